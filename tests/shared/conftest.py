"""Fixtures for shared/: a clean database on the real redis-server of `redis_url` (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from shared.store import Store


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def store(redis_client: redis.Redis) -> Store:
    return Store(redis_client)
