"""The worker's store during a real Redis outage: redis-server killed, started again on the same port and data."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_pipeline import sample_spec

from shared.run_state import fail_run
from shared.settings import get_settings
from shared.store import Store
from worker import tasks
from worker.redis_server import redis_command
from worker.stack import Stack, redis_reachable

OUTAGE_S = 2.0


@pytest.fixture
def own_redis(tmp_path: Path, monkeypatch) -> Iterator[Stack]:
    """A Redis of the test's own (so killing it disturbs no other test), and the worker's settings pointing at it."""
    with Stack(var_dir=tmp_path) as stack:
        monkeypatch.setenv("REDIS_URL", stack.start_redis())
        monkeypatch.setenv("TQ_REDIS_RETRY_S", "5")
        get_settings.cache_clear()
        tasks.store.cache_clear()
        try:
            yield stack
        finally:
            get_settings.cache_clear()
            tasks.store.cache_clear()


def outage(stack: Stack, seconds: float) -> threading.Timer:
    """SIGKILL redis-server (no clean shutdown), and start it again on the same port and data `seconds` later."""
    port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    stack.service("redis").kill()
    assert not redis_reachable(stack.redis_url)
    restart = threading.Timer(
        seconds,
        lambda: stack.spawn(
            "redis", redis_command(port, (stack.var_dir / "redis").resolve()), lambda: redis_reachable(stack.redis_url)
        ),
    )
    restart.start()
    return restart


def test_a_failure_recorded_during_a_redis_restart_is_saved_once_redis_is_back(own_redis):
    db = tasks.store()
    exp_id = db.create_experiment(sample_spec(db, models=["local-tfidf"]), "http://127.0.0.1:1/v1")
    restart = outage(own_redis, OUTAGE_S)
    fail_run(db, exp_id, "run-1", "the provider answered 400: bad request")
    restart.join()
    run = Store.from_url(own_redis.redis_url).get_run(exp_id, "run-1")
    assert (run["status"], run["error"]) == ("failed", "the provider answered 400: bad request")


def test_an_answer_saved_during_a_redis_restart_is_kept_and_the_run_goes_on(own_redis):
    db = tasks.store()
    exp_id = db.create_experiment(sample_spec(db, models=["local-tfidf"]), "http://127.0.0.1:1/v1")
    restart = outage(own_redis, OUTAGE_S)
    assert db.save_prediction(
        exp_id, "run-1", {"row": 7, "expected": "neutral", "output": "neutral", "predicted": "neutral"}
    )
    restart.join()
    db.update_run(exp_id, "run-1", progress={"done": 1, "total": 9})
    assert list(db.predictions(exp_id, "run-1")) == [7]
    assert db.get_run(exp_id, "run-1")["status"] != "failed"
