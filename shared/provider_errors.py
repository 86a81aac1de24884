"""What a provider error means for a step: worth another try later, and a one-line message for users.

The openai SDK has already retried a call when its error reaches a step (see `shared.provider`); these decide what
the task does next.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import openai
import redis

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,  # includes APITimeoutError
    openai.RateLimitError,
    openai.InternalServerError,
    redis.ConnectionError,
    redis.TimeoutError,
)
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def is_retryable(exc: BaseException) -> bool:
    """A timeout, a refused connection, 408/409/429 or a 5xx: the same request may succeed later."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS
    return isinstance(exc, TRANSIENT_ERRORS)


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """The wait a provider asked for in `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def retry_after_s(exc: BaseException) -> float | None:
    """The wait the provider asked for with the response that raised `exc`, if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return retry_after_from_headers(headers) if headers else None


def provider_error_message(exc: BaseException) -> str:
    """A one-line message for a provider error: status and the provider's own message, never headers or keys."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("message") or (body.get("error") or {}).get("message") if body else None
        return f"the provider answered {exc.status_code}: {detail or exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return "the provider did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return f"could not reach the provider ({exc.__cause__ or exc})"
    return f"{type(exc).__name__}: {exc}"
