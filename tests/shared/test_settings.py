from pathlib import Path

import pytest

from shared.settings import (
    LOCAL_API_KEY_PLACEHOLDER,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
    redact_url,
)


def test_defaults_point_at_the_local_stack():
    settings = load_settings({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.openai_base_url == "http://127.0.0.1:8100/v1"
    assert settings.openai_api_key == LOCAL_API_KEY_PLACEHOLDER
    assert settings.data_dir == Path("var")
    assert settings.visibility_timeout_s == 300
    assert settings.uses_local_backend
    assert settings.flower_url is None and settings.web_auth_token is None and settings.secret_key is None


def test_values_are_read_from_the_environment():
    settings = load_settings(
        {
            "REDIS_URL": "redis://cache:6380/2",
            "OPENAI_BASE_URL": "https://api.openai.com/v1/",
            "OPENAI_API_KEY": "sk-test-123",
            "TQ_EVAL_CONCURRENCY": "8",
            "TQ_REQUEST_TIMEOUT_S": "2.5",
            "TQ_MAX_RETRIES": "0",
            "TQ_POLL_INTERVAL_S": "1",
            "TQ_POLL_MAX_INTERVAL_S": "10",
            "TQ_FINE_TUNE_DEADLINE_S": "600",
            "TQ_VISIBILITY_TIMEOUT_S": "120",
            "TQ_DATA_DIR": "/tmp/tq",
            "FLOWER_URL": "http://127.0.0.1:5555",
            "WEB_AUTH_TOKEN": "tok",
            "SECRET_KEY": "s3cret",
            "TQ_MAX_UPLOAD_BYTES": "2048",
        }
    )
    assert settings == Settings(
        redis_url="redis://cache:6380/2",
        openai_base_url="https://api.openai.com/v1",
        openai_api_key="sk-test-123",
        eval_concurrency=8,
        request_timeout_s=2.5,
        max_retries=0,
        poll_interval_s=1.0,
        poll_max_interval_s=10.0,
        fine_tune_deadline_s=600.0,
        visibility_timeout_s=120.0,
        data_dir=Path("/tmp/tq"),
        flower_url="http://127.0.0.1:5555",
        web_auth_token="tok",
        secret_key="s3cret",
        max_upload_bytes=2048,
    )
    assert not settings.uses_local_backend


def test_blank_values_mean_the_default():
    assert load_settings({"REDIS_URL": "  ", "TQ_EVAL_CONCURRENCY": ""}) == load_settings({})


def test_repr_never_shows_secrets():
    settings = load_settings(
        {
            "OPENAI_API_KEY": "sk-very-secret-key",
            "SECRET_KEY": "flask-secret-value",
            "WEB_AUTH_TOKEN": "web-token-value",
        }
    )
    for text in (repr(settings), str(settings), f"{settings}"):
        assert "sk-very-secret-key" not in text
        assert "flask-secret-value" not in text
        assert "web-token-value" not in text
    assert "redis_url" in repr(settings)


def test_repr_masks_url_passwords():
    settings = load_settings(
        {"REDIS_URL": "redis://user:hunter2@cache:6380/1", "FLOWER_URL": "http://admin:flowerpw@127.0.0.1:5555"}
    )
    assert "hunter2" not in repr(settings) and "flowerpw" not in repr(settings)
    assert "redis://user:***@cache:6380/1" in repr(settings)
    assert settings.public_dict()["redis_url"] == "redis://user:***@cache:6380/1"
    assert "openai_api_key" not in settings.public_dict()
    assert settings.redis_url == "redis://user:hunter2@cache:6380/1"


def test_invalid_url_error_masks_the_password():
    with pytest.raises(SettingsError) as error:
        load_settings({"REDIS_URL": "http://u:topsecret@h:1/0"})
    assert "topsecret" not in str(error.value)


def test_redact_url():
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        load_settings({}).redis_url = "x"


@pytest.mark.parametrize(
    "environ, match",
    [
        ({"TQ_EVAL_CONCURRENCY": "many"}, "TQ_EVAL_CONCURRENCY='many' is not a whole number"),
        ({"TQ_EVAL_CONCURRENCY": "0"}, "TQ_EVAL_CONCURRENCY='0' is too small; it must be at least 1"),
        ({"TQ_REQUEST_TIMEOUT_S": "soon"}, "TQ_REQUEST_TIMEOUT_S='soon' is not a number"),
        ({"TQ_MAX_RETRIES": "-1"}, "TQ_MAX_RETRIES"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' is not a valid URL.*redis://"),
        ({"OPENAI_BASE_URL": "ftp://x/v1"}, "OPENAI_BASE_URL.*http:// or https://"),
        ({"FLOWER_URL": "nope"}, "FLOWER_URL"),
        ({"TQ_POLL_INTERVAL_S": "10", "TQ_POLL_MAX_INTERVAL_S": "5"}, "backoff cap"),
        ({"TQ_FINE_TUNE_DEADLINE_S": "5"}, "raise the deadline"),
        ({"TQ_MAX_UPLOAD_BYTES": "10"}, "TQ_MAX_UPLOAD_BYTES"),
        ({"TQ_VISIBILITY_TIMEOUT_S": "5"}, "TQ_VISIBILITY_TIMEOUT_S='5' is too small; it must be at least 10 s"),
        (
            {"TQ_POLL_MAX_INTERVAL_S": "100"},
            r"TQ_POLL_MAX_INTERVAL_S \(100 s\) is more than a quarter of TQ_VISIBILITY_TIMEOUT_S \(300 s\)"
            r".*at most 75 s",
        ),
        ({"TQ_REQUEST_TIMEOUT_S": "120"}, "raise TQ_VISIBILITY_TIMEOUT_S to at least 480 s"),
        ({"OPENAI_BASE_URL": "https://api.openai.com/v1"}, "export OPENAI_API_KEY"),
    ],
)
def test_bad_values_say_what_and_how_to_fix(environ, match):
    with pytest.raises(SettingsError, match=match):
        load_settings(environ)


def test_bad_key_error_does_not_echo_the_key():
    with pytest.raises(SettingsError) as error:
        load_settings({"OPENAI_BASE_URL": "https://api.openai.com/v1"})
    assert LOCAL_API_KEY_PLACEHOLDER not in str(error.value)


def test_get_settings_reads_os_environ_once(monkeypatch):
    get_settings.cache_clear()
    monkeypatch.setenv("TQ_EVAL_CONCURRENCY", "3")
    try:
        assert get_settings().eval_concurrency == 3
        monkeypatch.setenv("TQ_EVAL_CONCURRENCY", "5")
        assert get_settings() is get_settings()
        assert get_settings().eval_concurrency == 3
    finally:
        get_settings.cache_clear()


def test_one_provider_call_with_all_its_retries_must_fit_in_half_the_visibility_timeout():
    """A call retried by the SDK takes up to (TQ_MAX_RETRIES + 1) x TQ_REQUEST_TIMEOUT_S plus the SDK's backoff; past
    half the visibility timeout, Redis could hand the task to a second worker while the first still waits."""
    defaults = load_settings({})
    assert (defaults.request_timeout_s, defaults.max_retries, defaults.visibility_timeout_s) == (30, 3, 300)
    assert load_settings({"TQ_REQUEST_TIMEOUT_S": "30", "TQ_MAX_RETRIES": "4", "TQ_VISIBILITY_TIMEOUT_S": "400"})
    with pytest.raises(
        SettingsError,
        match=r"could take 157\.5 s .*TQ_MAX_RETRIES=4 retries of "
        r"TQ_REQUEST_TIMEOUT_S=30 s.*raise TQ_VISIBILITY_TIMEOUT_S to at least "
        r"315 s",
    ):
        load_settings({"TQ_MAX_RETRIES": "4"})
    with pytest.raises(SettingsError, match="lower TQ_MAX_RETRIES or TQ_REQUEST_TIMEOUT_S"):
        load_settings(
            {
                "TQ_VISIBILITY_TIMEOUT_S": "20",
                "TQ_REQUEST_TIMEOUT_S": "5",
                "TQ_MAX_RETRIES": "3",
                "TQ_POLL_MAX_INTERVAL_S": "1",
                "TQ_POLL_INTERVAL_S": "0.5",
            }
        )


def test_mlflow_tracking_uri_is_read_and_blank_means_off():
    assert load_settings({}).mlflow_tracking_uri is None
    assert load_settings({"MLFLOW_TRACKING_URI": "  "}).mlflow_tracking_uri is None
    assert (
        load_settings({"MLFLOW_TRACKING_URI": "sqlite:////var/tq/mlflow.db"}).mlflow_tracking_uri
        == "sqlite:////var/tq/mlflow.db"
    )
    assert load_settings({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}).mlflow_tracking_uri == "http://mlflow:5000"


@pytest.mark.parametrize("uri", ["http://", "sqlite://relative.db", "ftp://mlflow:5000"])
def test_a_malformed_mlflow_tracking_uri_is_refused_with_a_fix(uri):
    with pytest.raises(SettingsError) as error:
        load_settings({"MLFLOW_TRACKING_URI": uri})
    assert "MLFLOW_TRACKING_URI" in str(error.value) and "sqlite:///" in str(error.value)


def test_repr_masks_the_mlflow_tracking_uri_password():
    settings = load_settings({"MLFLOW_TRACKING_URI": "https://bot:mlflowpw@mlflow.example.com"})
    assert "mlflowpw" not in repr(settings)
    assert settings.public_dict()["mlflow_tracking_uri"] == "https://bot:***@mlflow.example.com"
