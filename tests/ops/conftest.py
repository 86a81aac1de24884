"""Fixtures for the operations tests: a real embedded Redis (worker.redis_server) and a provider stand-in."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from ops_processes import EmbeddedRedis, serving_provider


@pytest.fixture
def embedded_redis(tmp_path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis").start()
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture
def provider() -> Iterator:
    with serving_provider() as server:
        yield server
