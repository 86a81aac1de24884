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


@pytest.mark.parametrize("env", [{"LOCAL_OPENAI_PORT": "abc"}, {"LOCAL_OPENAI_MAX_LOADED_MODELS": "0"},
                                 {"LOCAL_OPENAI_PORT": "70000"}])
def test_bad_values_stop_with_a_message_naming_the_option(env):
    with pytest.raises(SystemExit) as caught:
        config_from_env(env)
    assert any(word in str(caught.value) for word in ("LOCAL_OPENAI_PORT", "max_loaded_models", "port"))


def test_api_key_is_not_a_command_line_flag():
    with pytest.raises(SystemExit):
        parse_args(["--api-key", "sk-visible-in-ps"], environ={})
