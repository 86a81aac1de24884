"""Server options: defaults, then LOCAL_OPENAI_* environment, then command-line flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_openai.config import ServerConfig, config_from_env, parse_args


def test_defaults_environment_then_flags():
    assert config_from_env({}) == ServerConfig()
    env = {"LOCAL_OPENAI_PORT": "9000", "LOCAL_OPENAI_API_KEY": "sk-x", "LOCAL_OPENAI_BATCH_WINDOW_MS": "2.5"}
    config = parse_args(["--port", "0", "--data-dir", "/tmp/x"], environ=env)
    assert (config.port, config.api_key, config.batch_window_ms, config.data_dir) == (0, "sk-x", 2.5, Path("/tmp/x"))


def test_empty_api_key_means_no_authentication():
    assert config_from_env({"LOCAL_OPENAI_API_KEY": ""}).api_key is None


@pytest.mark.parametrize(
    "env", [{"LOCAL_OPENAI_PORT": "abc"}, {"LOCAL_OPENAI_MAX_LOADED_MODELS": "0"}, {"LOCAL_OPENAI_PORT": "70000"}]
)
def test_bad_values_stop_with_a_message_naming_the_option(env):
    with pytest.raises(SystemExit) as caught:
        config_from_env(env)
    assert any(word in str(caught.value) for word in ("LOCAL_OPENAI_PORT", "max_loaded_models", "port"))


def test_api_key_is_not_a_command_line_flag():
    with pytest.raises(SystemExit):
        parse_args(["--api-key", "sk-visible-in-ps"], environ={})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "myhost.example"])
def test_a_non_loopback_bind_needs_an_api_key(host):
    with pytest.raises(SystemExit) as caught:
        parse_args(["--host", host], environ={})
    assert "LOCAL_OPENAI_API_KEY" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert parse_args(["--host", host], environ={"LOCAL_OPENAI_API_KEY": "sk-long-random"}).host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_need_no_key(host):
    assert parse_args(["--host", host], environ={}).api_key is None


def test_the_server_process_refuses_to_listen_on_every_interface_without_a_key(tmp_path):
    """The real `python -m local_openai`: exits at once with the fix in its message, and never prints a URL."""
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCAL_OPENAI_")}
    result = subprocess.run(
        [sys.executable, "-m", "local_openai", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "LOCAL_OPENAI_API_KEY" in result.stderr and "listening" not in result.stdout
