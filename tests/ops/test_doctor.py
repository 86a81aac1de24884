"""`python -m worker doctor` as an operator runs it: a real process, real Redis and Celery workers, closed ports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from ops_processes import REPO, base_env, free_port, provider_url, wait_until


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker", "doctor", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def start_worker(tmp_path) -> Iterator:
    """Start real Celery worker processes (thread pool) on the given queues; all are stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str], name: str, queues: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "worker",
                    "-Q",
                    queues,
                    "-n",
                    f"{name}@%h",
                    "--pool",
                    "threads",
                    "--concurrency",
                    "1",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "INFO",
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        wait_until(
            lambda: "ready" in (tmp_path / f"{name}.log").read_text(errors="replace") or process.poll() is not None,
            90,
            f"worker {name} to be ready",
        )
        assert process.poll() is None, (tmp_path / f"{name}.log").read_text(errors="replace")
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def lines_of(output: str, name: str) -> list[str]:
    """The report line of check `name` and its `fix:` line when it failed."""
    lines = output.splitlines()
    index = next(i for i, line in enumerate(lines) if line[:4] in ("OK  ", "FAIL") and line[6:].startswith(name))
    return lines[index : index + 2]


def test_broken_configuration_prints_each_fix_and_exits_non_zero(tmp_path):
    redis_port, backend_port = free_port(), free_port()
    result = doctor(
        base_env(
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            OPENAI_BASE_URL=f"http://127.0.0.1:{backend_port}/v1",
            TQ_DATA_DIR=str(tmp_path),
        )
    )
    assert result.returncode == 1, result.stdout + result.stderr
    redis_line, redis_fix = lines_of(result.stdout, "redis")
    assert redis_line.startswith("FAIL") and f"127.0.0.1:{redis_port}" in redis_line
    assert redis_fix.strip().startswith("fix:") and "REDIS_URL" in redis_fix
    backend_line, backend_fix = lines_of(result.stdout, "backend")
    assert backend_line.startswith("FAIL") and str(backend_port) in backend_line
    assert f"python -m local_openai --port {backend_port}" in backend_fix
    assert lines_of(result.stdout, "workers")[0].startswith("FAIL")
    assert lines_of(result.stdout, "settings")[0].startswith("OK")
    assert "3 of 5 checks failed (redis, workers, backend)" in result.stdout


def test_invalid_setting_is_reported_not_raised(tmp_path):
    result = doctor(base_env(REDIS_URL="localhost:6379", TQ_DATA_DIR=str(tmp_path)))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line, fix = lines_of(result.stdout, "settings")
    assert line.startswith("FAIL") and "REDIS_URL" in line and "redis://" in line
    assert ".env" in fix


def test_json_output_for_scripts(tmp_path, embedded_redis):
    result = doctor(
        base_env(
            REDIS_URL=embedded_redis.url,
            OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
            TQ_DATA_DIR=str(tmp_path),
        ),
        "--json",
        "--ping-timeout",
        "0.5",
    )
    assert result.returncode == 1
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert checks["redis"]["ok"] and checks["settings"]["ok"] and checks["data dir"]["ok"]
    assert not checks["workers"]["ok"] and "no worker answered" in checks["workers"]["detail"]
    assert not checks["backend"]["ok"] and checks["backend"]["fix"]


def test_real_workers_missing_a_queue_then_all_served(tmp_path, embedded_redis, provider, start_worker):
    env = base_env(REDIS_URL=embedded_redis.url, OPENAI_BASE_URL=provider_url(provider), TQ_DATA_DIR=str(tmp_path))
    start_worker(env, "trainer", "tunequeue,training")
    result = doctor(env)
    assert result.returncode == 1, result.stdout
    line, fix = lines_of(result.stdout, "workers")
    assert line.startswith("FAIL") and "trainer@" in line and "evaluation" in line
    assert "-Q tunequeue,training,evaluation" in fix

    start_worker(env, "evaluator", "evaluation")
    result = doctor(env)
    assert result.returncode == 0, result.stdout
    assert "All 5 checks passed." in result.stdout
    assert "2 worker(s)" in lines_of(result.stdout, "workers")[0]


def test_doctor_is_wired_into_the_worker_cli():
    result = subprocess.run(
        [sys.executable, "-m", "worker", "doctor", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--json" in result.stdout, result.stdout + result.stderr
