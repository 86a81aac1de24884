"""The tunequeue web front end.

`flask --app web run` in development; `gunicorn 'web:create_app()'` as a service. Views stay thin: they parse the
request, call `shared/` (and `worker.pipeline` to enqueue) and render.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from shared.settings import Settings, get_settings
from web import json_body
from web.request import AppRequest

DEFAULTS: dict[str, Any] = {
    # Flask-WTF checks CSRF in `web.security.check_request`, which knows when the JSON API may skip it.
    "WTF_CSRF_CHECK_DEFAULT": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Poll interval of the live experiment page, in milliseconds.
    "POLL_INTERVAL_MS": 1500,
}


def config_from_settings(settings: Settings) -> dict[str, Any]:
    """The Flask configuration that follows from the project settings."""
    return {
        "SETTINGS": settings,
        "SECRET_KEY": settings.secret_key,
        "MAX_CONTENT_LENGTH": settings.max_upload_bytes,
        "WEB_AUTH_TOKEN": settings.web_auth_token,
        "FLOWER_URL": settings.flower_url,
        # Hosts this app answers to; web.security.TrustedHostRequest adds the IPv6 literals Werkzeug cannot match.
        "TRUSTED_HOSTS": list(settings.trusted_hosts),
        "PERMANENT_SESSION_LIFETIME": timedelta(seconds=settings.session_lifetime_s),
        # Login attempts are counted in Redis, shared by every web process (`limits` spells a socket redis+unix://).
        "RATELIMIT_STORAGE_URI": ("redis+" if settings.redis_url.startswith("unix://") else "") + settings.redis_url,
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": "tq:ratelimit"},
    }


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment (through `shared.settings`), then `test_config`.

    `test_config` may carry a whole `SETTINGS` object (from `load_settings({...})`) and any Flask key to override.
    """
    app = Flask(__name__)
    app.request_class = AppRequest
    json_body.init_app(app)
    app.config.from_mapping(DEFAULTS)
    overrides = dict(test_config or {})
    app.config.from_mapping(config_from_settings(overrides.get("SETTINGS") or get_settings()))
    app.config.from_mapping(overrides)

    from web import (
        api,
        compare,
        datasets,
        errors,
        experiments,
        filters,
        health,
        ids,
        leaderboards,
        reruns,
        results,
        security,
        store,
    )

    security.init_app(app)
    ids.init_app(app)
    store.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    for blueprint in (
        experiments.bp,
        results.bp,
        datasets.bp,
        api.bp,
        health.bp,
        compare.bp,
        leaderboards.bp,
        reruns.bp,
    ):
        app.register_blueprint(blueprint)
    app.add_url_rule("/", endpoint="index", view_func=experiments.index)

    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {"flower_url": app.config.get("FLOWER_URL")}

    return app
