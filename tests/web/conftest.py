"""Fixtures for the web tests: the app on the real redis-server of `redis_url` (tests/conftest.py), its client and
runner.

The app's settings point at that Redis, and the process environment does too, because `worker.pipeline` enqueues
through the process-wide Celery app: submitted experiments simply wait in the queue (no worker runs in these
tests). `OPENAI_BASE_URL` points at a port where nothing listens, so the model list is unavailable for real.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.settings import get_settings, load_settings
from shared.store import Store
from web import create_app
from worker.celery_app import reconfigure
from worker.stack import free_port

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "shared" / "sample_data" / "airline_tweets_sample.csv"


@pytest.fixture(scope="session")
def web_environ(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "TQ_DATA_DIR": str(tmp_path_factory.mktemp("web-data")),
        "SECRET_KEY": "test-secret-key-not-real",
        "OPENAI_API_KEY": "sk-test-never-rendered",
        "TQ_MAX_UPLOAD_BYTES": str(256 * 1024),
        "FLOWER_URL": "http://127.0.0.1:5555",
    }


@pytest.fixture
def settings_environ(web_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test settings, also in os.environ for code that reads the process-wide settings (the Celery app)."""
    before = dict(os.environ)
    for name, value in web_environ.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reconfigure(load_settings(web_environ))
    yield dict(web_environ)
    reconfigure(load_settings(before))
    get_settings.cache_clear()


@pytest.fixture
def store(redis_url: str) -> Iterator[Store]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield Store(client)
    client.close()


def _make_app(environ: dict[str, str]):
    return create_app({"SETTINGS": load_settings(environ), "TESTING": True})


@pytest.fixture
def make_app(settings_environ: dict[str, str], store: Store):
    """Build an app with extra environment settings, e.g. make_app(WEB_AUTH_TOKEN="...")."""
    return lambda **environ: _make_app({**settings_environ, **environ})


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def sample_csv() -> bytes:
    return SAMPLE_CSV.read_bytes()
