"""shared.health.TimedCache: slow checks (worker ping, provider) reused for a few seconds, per key."""

from __future__ import annotations

import pytest

from shared.health import TimedCache


class Clock:
    """A settable clock, so the test does not depend on how fast it runs."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_results_are_reused_until_the_ttl_passes():
    clock, calls = Clock(), []
    cache = TimedCache(5.0, clock=clock)
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get("redis://a", compute) == 1
    clock.now += 4.9
    assert cache.get("redis://a", compute) == 1
    assert cache.get("redis://b", compute) == 2, "each key has its own result"
    clock.now += 0.2
    assert cache.get("redis://a", compute) == 3


def test_a_failed_computation_is_not_kept():
    cache = TimedCache(5.0, clock=Clock())

    def broken():
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        cache.get("k", broken)
    assert cache.get("k", lambda: "answer") == "answer"
