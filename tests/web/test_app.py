"""The app factory: defaults, then the environment (through shared.settings), then test overrides."""

from __future__ import annotations

from pathlib import Path

from flask.cli import routes_command

from shared.settings import load_settings
from web import create_app


def test_environment_settings_then_test_overrides(settings_environ):
    settings = load_settings(settings_environ)
    app = create_app({"SETTINGS": settings})
    assert app.config["SECRET_KEY"] == settings_environ["SECRET_KEY"]
    assert app.config["MAX_CONTENT_LENGTH"] == int(settings_environ["TQ_MAX_UPLOAD_BYTES"])
    assert app.config["WTF_CSRF_CHECK_DEFAULT"] is False, "CSRF is checked by web.security instead"
    overridden = create_app({"SETTINGS": settings, "MAX_CONTENT_LENGTH": 10, "POLL_INTERVAL_MS": 50})
    assert overridden.config["MAX_CONTENT_LENGTH"] == 10 and overridden.config["POLL_INTERVAL_MS"] == 50


def test_without_secret_key_every_process_shares_one_generated_key(settings_environ, tmp_path: Path):
    environ = {**settings_environ, "TQ_DATA_DIR": str(tmp_path)}
    environ.pop("SECRET_KEY")
    first = create_app({"SETTINGS": load_settings(environ)})
    second = create_app({"SETTINGS": load_settings(environ)})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    key_file = tmp_path / "web_secret_key"
    assert key_file.stat().st_mode & 0o077 == 0, "the key file is readable by its owner only"


def test_cli_lists_every_area(runner):
    result = runner.invoke(routes_command)
    assert result.exit_code == 0
    for endpoint in (
        "experiments.new",
        "datasets.upload",
        "results.record_json",
        "api.create_experiment",
        "api.openapi",
        "health.healthz",
        "auth.login",
    ):
        assert endpoint in result.output
