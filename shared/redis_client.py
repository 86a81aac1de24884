"""The Redis client the pipeline writes its state with: commands retried with backoff across a short outage.

A Redis restart (or a failover) refuses connections for a moment. Without retries the first refused write ends the
step, and the run's failure cannot be recorded either, since Redis is still away: the run stays `evaluating` with
nothing saying why. So every command is retried on connection errors and timeouts, with exponential backoff
(0.1 s, 0.2 s, ... at most 2 s between tries), until about `Settings.redis_retry_window_s` has passed.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from shared.settings import Settings

FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
RETRIED_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def retries_within(window_s: float, first_s: float = FIRST_BACKOFF_S, cap_s: float = MAX_BACKOFF_S) -> int:
    """How many retries it takes for the backoff waits (`first_s` doubling up to `cap_s`) to add up to `window_s`."""
    retries, waited = 0, 0.0
    while waited < window_s:
        retries += 1
        waited += min(cap_s, first_s * 2 ** (retries - 1))
    return retries


def retry_policy(settings: Settings) -> Retry:
    # redis-py's ExponentialBackoff waits base * 2**failures, failures counted from 1.
    return Retry(
        ExponentialBackoff(cap=MAX_BACKOFF_S, base=FIRST_BACKOFF_S / 2),
        retries=retries_within(settings.redis_retry_window_s),
        supported_errors=RETRIED_ERRORS,
    )


def redis_client(settings: Settings) -> redis.Redis:
    """A client for `settings.redis_url` (bytes, as `shared.store.Store` needs) that rides out a short outage."""
    return redis.Redis.from_url(settings.redis_url, retry=retry_policy(settings), retry_on_error=list(RETRIED_ERRORS))
