"""Error pages and JSON errors: 404, 405, 413 (upload too large), 429, CSRF failures, untrusted hosts; JSON for the
API and `/healthz`, HTML elsewhere. The HTTP error's own headers (`Allow`, `Retry-After`, `WWW-Authenticate`) are kept.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, SecurityError

from shared.settings import redact_url
from web.security import wants_json

log = logging.getLogger(__name__)


ENTITY_HEADERS = frozenset({"content-type", "content-length"})


def _respond(status: int, title: str, message: str, error: HTTPException | None = None) -> ResponseReturnValue:
    """The error as JSON or as a page, with the headers `error` carries (less its own content type)."""
    headers = [
        (name, value) for name, value in (error.get_headers() if error else []) if name.lower() not in ENTITY_HEADERS
    ]
    if wants_json():
        return jsonify(error=message), status, headers
    return render_template("error.html", title=title, message=message), status, headers


def untrusted_host(_error: SecurityError) -> ResponseReturnValue:
    """No page template: URLs cannot be built for a request whose host was refused."""
    host = request.headers.get("Host", "")
    message = (
        f"This server does not answer to the host name {host!r}. Use the address the operator published, "
        f"or, if you are the operator, add that name to TQ_TRUSTED_HOSTS."
    )
    if wants_json():
        return jsonify(error=message), 400
    return Response(message + "\n", 400, mimetype="text/plain")


def too_large(_error: RequestEntityTooLarge) -> ResponseReturnValue:
    limit_mib = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    return _respond(
        413,
        "Upload too large",
        f"The upload is larger than this server accepts ({limit_mib:.1f} MiB). Upload a smaller CSV "
        f"(fewer rows or columns), or ask the operator to raise TQ_MAX_UPLOAD_BYTES.",
        _error,
    )


def csrf_failed(error: CSRFError) -> ResponseReturnValue:
    return _respond(
        400,
        "Form expired",
        f"The request was refused: {error.description} Reload the page and submit the form again; API "
        f"clients authenticate with 'Authorization: Bearer <WEB_AUTH_TOKEN>'.",
    )


def redis_down(error: redis.RedisError) -> ResponseReturnValue:
    url = redact_url(current_app.config["SETTINGS"].redis_url)
    log.error("Redis at %s failed: %s", url, error)
    return _respond(
        503,
        "Store unavailable",
        f"Redis at {url} did not answer ({type(error).__name__}). Nothing was lost; start Redis "
        f"(or fix REDIS_URL) and try again. /healthz shows every dependency.",
    )


def http_error(error: HTTPException) -> ResponseReturnValue:
    return _respond(error.code or 500, error.name, error.description or error.name, error)


def init_app(app: Flask) -> None:
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(SecurityError, untrusted_host)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(redis.RedisError, redis_down)
