"""The one place the `openai.OpenAI` client is built: base URL, key, timeout and retries all come from settings.

The key is read from the settings object (which reads the environment), never from task arguments, so it cannot
leak into the broker, Flower or the experiment record.

Retries are the SDK's own (timeouts, 408, 409, 429, 5xx; exponential backoff; the provider's Retry-After). One
thing is changed: a Retry-After longer than the SDK's longest backoff is not waited for inside the call (the SDK
would hold the worker for up to two minutes per retry, past what settings allow a call); the call fails at once and
the task comes back later instead (see `shared.retries`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai

from shared.provider_errors import retry_after_from_headers
from shared.retries import SDK_MAX_RETRY_WAIT_S
from shared.settings import Settings

if TYPE_CHECKING:
    import httpx2  # the SDK's HTTP client

SHOULD_RETRY_HEADER = "x-should-retry"
"""The response header by which the SDK lets a server decide whether a failed request is retried."""


def decline_long_retry_after(response: httpx2.Response) -> None:
    """An httpx response hook: a failed response asking for a longer wait than the SDK's backoff is not retried."""
    if response.is_success:
        return
    wait = retry_after_from_headers(response.headers)
    if wait is not None and wait > SDK_MAX_RETRY_WAIT_S:
        response.headers[SHOULD_RETRY_HEADER] = "false"


def make_client(settings: Settings, *, max_retries: int | None = None, timeout_s: float | None = None) -> openai.OpenAI:
    """An SDK client for the configured provider (local_openai by default, OpenAI or any compatible API otherwise).

    `max_retries` overrides the SDK's own retry count: a step that must not blindly repeat a request (creating a
    fine-tuning job) or a check that should answer at once passes 0.
    """
    return openai.OpenAI(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        timeout=settings.request_timeout_s if timeout_s is None else timeout_s,
        max_retries=settings.max_retries if max_retries is None else max_retries,
        http_client=openai.DefaultHttpxClient(event_hooks={"response": [decline_long_retry_after]}),
    )
