"""The one place the `openai.OpenAI` client is built: base URL, key, timeout and retries all come from settings.

The key is read from the settings object (which reads the environment), never from task arguments, so it cannot
leak into the broker, Flower or the experiment record.
"""
from __future__ import annotations

import openai

from shared.settings import Settings


def make_client(settings: Settings, *, max_retries: int | None = None, timeout_s: float | None = None) -> openai.OpenAI:
    """An SDK client for the configured provider (local_openai by default, OpenAI or any compatible API otherwise).

    `max_retries` overrides the SDK's own retry count: steps that must not blindly repeat a request (creating a
    fine-tuning job) or that run their own backoff (evaluation) pass 0.
    """
    return openai.OpenAI(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        timeout=settings.request_timeout_s if timeout_s is None else timeout_s,
        max_retries=settings.max_retries if max_retries is None else max_retries,
    )
