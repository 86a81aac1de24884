"""worker.redis_server: the embedded redis-server that `make up` runs, with the persistence tunequeue relies on."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from ops_processes import REPO, EmbeddedRedis, base_env, free_port

from worker.redis_server import PERSISTENCE_OPTIONS, port_from_url, redis_command


def test_runs_with_append_only_file_and_no_eviction(embedded_redis):
    config = embedded_redis.client().config_get("*")
    for name, value in PERSISTENCE_OPTIONS.items():
        assert config[name] == value, name
    assert config["dir"] == str(embedded_redis.data_dir.resolve())
    assert config["bind"] == "127.0.0.1"


def test_port_comes_from_redis_url_and_the_process_is_redis_itself(embedded_redis):
    # The fixture passes only REDIS_URL, no --port; exec means the pid we started is the server (signals reach it).
    info = embedded_redis.client().info("server")
    assert info["tcp_port"] == embedded_redis.port
    assert info["process_id"] == embedded_redis.process.pid


def test_data_survives_a_restart(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        server.client().set("tq:ops-test", "kept")
        assert server.stop(signal.SIGTERM) == 0
        assert (tmp_path / "redis" / "appendonly.aof").stat().st_size > 0
        server = EmbeddedRedis(tmp_path / "redis", port=server.port).start()
        assert server.client().get("tq:ops-test") == "kept"
    finally:
        server.stop(signal.SIGKILL)


def test_refuses_a_remote_redis_url_with_a_fix():
    with pytest.raises(SystemExit) as raised:
        port_from_url("redis://redis.example.com:6379/0")
    message = str(raised.value)
    assert "redis.example.com" in message and "--port" in message


def test_default_port_is_6379_and_command_carries_every_option(tmp_path):
    assert port_from_url("redis://127.0.0.1/0") == 6379
    argv = redis_command(7000, tmp_path)
    assert argv[argv.index("--port") + 1] == "7000"
    assert argv[argv.index("--daemonize") + 1] == "no"
    for name, value in PERSISTENCE_OPTIONS.items():
        assert argv[argv.index(f"--{name}") + 1] == value


def test_password_in_redis_url_is_required_and_kept_out_of_ps(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", password="s3cretPass").start()
    try:
        assert server.client().ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port).ping()
        assert b"s3cretPass" not in Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert (tmp_path / "redis" / "redis-auth.conf").stat().st_mode & 0o777 == 0o600
    finally:
        server.stop(signal.SIGKILL)


def test_refuses_to_listen_on_the_network_without_a_password(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "worker.redis_server", "--bind", "0.0.0.0", "--dir", str(tmp_path)],
        cwd=REPO,
        env=base_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr and "password" in result.stderr
