"""Error pages and JSON errors: 404, 413 (upload too large), CSRF failures; JSON for the API, HTML elsewhere."""
from __future__ import annotations

import logging

import redis
from flask import Flask, current_app, jsonify, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared.health import redact_url
from web.security import wants_json

log = logging.getLogger(__name__)


def _respond(status: int, title: str, message: str):
    if wants_json():
        return jsonify(error=message), status
    return render_template("error.html", title=title, message=message), status


def too_large(_error: RequestEntityTooLarge):
    limit_mib = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    return _respond(413, "Upload too large",
                    f"The upload is larger than this server accepts ({limit_mib:.1f} MiB). Upload a smaller CSV "
                    f"(fewer rows or columns), or ask the operator to raise TQ_MAX_UPLOAD_BYTES.")


def csrf_failed(error: CSRFError):
    return _respond(400, "Form expired",
                    f"The request was refused: {error.description} Reload the page and submit the form again; API "
                    f"clients authenticate with 'Authorization: Bearer <WEB_AUTH_TOKEN>'.")


def redis_down(error: redis.RedisError):
    url = redact_url(current_app.config["SETTINGS"].redis_url)
    log.error("Redis at %s failed: %s", url, error)
    return _respond(503, "Store unavailable",
                    f"Redis at {url} did not answer ({type(error).__name__}). Nothing was lost; start Redis "
                    f"(or fix REDIS_URL) and try again. /healthz shows every dependency.")


def http_error(error: HTTPException):
    return _respond(error.code or 500, error.name, error.description or error.name)


def init_app(app: Flask) -> None:
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(redis.RedisError, redis_down)
