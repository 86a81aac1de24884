"""shared.health against real services: a real redis-server, closed ports, and a real HTTP server standing in for a
provider that answers /v1/models with a chosen status (faults a remote provider produces: 401, 404, 500)."""

from __future__ import annotations

import pytest
from ops_processes import free_port, provider_url

from shared.health import Check, check_all, check_backend, check_data_dir, check_redis, check_workers, load_checked
from shared.settings import load_settings, redact_url

QUEUES = ("tunequeue", "training", "evaluation")


def settings_for(
    tmp_path, redis_url: str = "redis://127.0.0.1:1/0", base_url: str = "http://127.0.0.1:1/v1", **extra: str
):
    return load_settings(
        {"REDIS_URL": redis_url, "OPENAI_BASE_URL": base_url, "TQ_DATA_DIR": str(tmp_path / "data"), **extra}
    )


def test_redis_ok_on_a_real_server(tmp_path, embedded_redis):
    check = check_redis(settings_for(tmp_path, embedded_redis.url))
    assert check.ok, check
    assert "noeviction" in check.detail and check.fix == ""


def test_redis_closed_port_says_how_to_start_it(tmp_path):
    port = free_port()
    check = check_redis(settings_for(tmp_path, f"redis://127.0.0.1:{port}/0"))
    assert not check.ok
    assert str(port) in check.detail
    assert "REDIS_URL" in check.fix and "make up" in check.fix


def test_redis_that_may_evict_keys_fails(tmp_path, embedded_redis):
    embedded_redis.client().config_set("maxmemory-policy", "allkeys-lru")
    check = check_redis(settings_for(tmp_path, embedded_redis.url))
    assert not check.ok
    assert "allkeys-lru" in check.detail and "noeviction" in check.fix


def test_redis_password_never_printed(tmp_path):
    port = free_port()
    check = check_redis(settings_for(tmp_path, f"redis://:hunter2secret@127.0.0.1:{port}/0"))
    assert "hunter2secret" not in check.detail + check.fix
    assert redact_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


def test_backend_ok_lists_models(tmp_path, provider):
    check = check_backend(settings_for(tmp_path, base_url=provider_url(provider)))
    assert check.ok, check
    assert "2 model(s)" in check.detail and "local-minilm" in check.detail


def test_backend_closed_port_names_the_local_openai_command(tmp_path):
    port = free_port()
    check = check_backend(settings_for(tmp_path, base_url=f"http://127.0.0.1:{port}/v1"))
    assert not check.ok
    assert f"--port {port}" in check.fix and "OPENAI_BASE_URL" in check.fix


@pytest.mark.parametrize(
    "status, detail, fix",
    [
        (401, "rejected the API key", "OPENAI_API_KEY"),
        (404, "not found", "/v1"),
        (500, "HTTP 500", "provider"),
    ],
)
def test_backend_http_errors_each_have_their_fix(tmp_path, provider, status, detail, fix):
    provider.status = status
    check = check_backend(settings_for(tmp_path, base_url=provider_url(provider)))
    assert not check.ok
    assert detail in check.detail and fix in check.fix


def test_workers_none_answering():
    check = check_workers(lambda: {}, QUEUES)
    assert not check.ok
    assert "-Q tunequeue,training,evaluation" in check.fix


def test_workers_missing_a_queue_names_it():
    check = check_workers(lambda: {"celery@a": ["tunequeue", "training"]}, QUEUES)
    assert not check.ok
    assert "evaluation" in check.detail and "celery@a" in check.detail


def test_workers_all_queues_served_across_workers():
    check = check_workers(lambda: {"celery@a": ["tunequeue", "training"], "celery@b": ["evaluation"]}, QUEUES)
    assert check.ok, check
    assert "2 worker(s)" in check.detail


def test_workers_probe_failure_is_a_failed_check():
    def probe():
        raise ConnectionError("broker went away")

    check = check_workers(probe, QUEUES)
    assert not check.ok and "broker went away" in check.detail


def test_data_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    check = check_data_dir(load_settings({"TQ_DATA_DIR": str(blocker / "data")}))
    assert not check.ok and "TQ_DATA_DIR" in check.fix


def test_invalid_settings_are_a_failed_check_with_the_variable_named():
    settings, check = load_checked({"TQ_EVAL_CONCURRENCY": "many"})
    assert settings is None
    assert not check.ok and "TQ_EVAL_CONCURRENCY" in check.detail and ".env" in check.fix


def test_check_all_skips_the_worker_ping_when_redis_is_down(tmp_path, provider):
    asked: list[bool] = []

    def probe():
        asked.append(True)
        return {}

    checks = check_all(settings_for(tmp_path, base_url=provider_url(provider)), probe, QUEUES)
    by_name = {check.name: check for check in checks}
    assert [c.name for c in checks] == ["data dir", "redis", "workers", "backend"]
    assert not by_name["redis"].ok and not by_name["workers"].ok and by_name["backend"].ok
    assert asked == []
    assert all(isinstance(check, Check) and (check.ok or check.fix) for check in checks)


def test_check_all_without_a_probe_has_no_worker_check(tmp_path, embedded_redis, provider):
    checks = check_all(settings_for(tmp_path, embedded_redis.url, provider_url(provider)))
    assert [c.name for c in checks] == ["data dir", "redis", "backend"]
    assert all(check.ok for check in checks), checks
