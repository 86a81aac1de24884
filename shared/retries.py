"""How long one provider call may take with the openai SDK's own retries, and the backoff of task-level retries.

The SDK retries timeouts, 408, 409, 429 and 5xx by itself, waiting 0.5 s doubling up to 8 s between attempts (a
provider's Retry-After longer than that is not waited for inside a call: see `shared.provider`). So one call with
`max_retries` retries of `timeout_s` each ends within `call_bound_s(timeout_s, max_retries)`. Settings refuse a
configuration where that bound passes half the broker's visibility timeout, and `evaluate` fits each call before its
own deadline with `fit_call`.
"""

from __future__ import annotations

import random

SDK_FIRST_RETRY_WAIT_S = 0.5
"""The SDK's first wait between attempts (`openai._constants.INITIAL_RETRY_DELAY`)."""
SDK_MAX_RETRY_WAIT_S = 8.0
"""The SDK's longest wait between attempts (`openai._constants.MAX_RETRY_DELAY`)."""


def sdk_wait_s(retry: int) -> float:
    """The longest wait the SDK makes before retry number `retry` (0-based); its jitter only shortens it."""
    return min(SDK_MAX_RETRY_WAIT_S, SDK_FIRST_RETRY_WAIT_S * 2.0**retry)


def call_bound_s(timeout_s: float, max_retries: int) -> float:
    """The longest one SDK call can take: every attempt timing out, with the SDK's waits in between."""
    return (max_retries + 1) * timeout_s + sum(sdk_wait_s(retry) for retry in range(max_retries))


def fit_call(timeout_s: float, max_retries: int, budget_s: float) -> tuple[float, int]:
    """(attempt timeout, retries) for a call that must end within `budget_s`: the timeout cut to the budget, and as
    many of `max_retries` retries as fit after it."""
    timeout = min(timeout_s, budget_s)
    retries = max_retries
    while retries > 0 and call_bound_s(timeout, retries) > budget_s:
        retries -= 1
    return timeout, retries


def backoff_s(attempt: int, first_s: float, cap_s: float, jitter: float = 0.1) -> float:
    """Exponential backoff for a task's countdown: first_s * 2**attempt, at most cap_s, with a little jitter so
    retries spread out."""
    delay = min(cap_s, first_s * 2.0**attempt)
    return max(0.0, delay * (1 + random.uniform(-jitter, jitter)))
