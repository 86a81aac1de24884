"""Flask app factory: the OpenAI-compatible API over one data directory."""

from __future__ import annotations

import hmac
import logging

from flask import Flask, jsonify, request

from local_openai import errors
from local_openai.api import chat, files, fine_tuning, models
from local_openai.config import ServerConfig, config_from_env
from local_openai.job_record import ACTIVE
from local_openai.services import create_services, get_services

log = logging.getLogger(__name__)


def _check_api_key() -> None:
    expected = get_services().config.api_key
    if not expected or not request.path.startswith("/v1"):
        return
    given = request.headers.get("Authorization", "")
    token = given[7:] if given.startswith("Bearer ") else ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        message = (
            "Incorrect API key provided. Send the key the server was started with (LOCAL_OPENAI_API_KEY) "
            "as 'Authorization: Bearer <key>'."
            if token
            else "You didn't provide an API key. Send 'Authorization: Bearer <key>' (LOCAL_OPENAI_API_KEY)."
        )
        raise errors.Unauthorized(message, code="invalid_api_key")


def _limit_body() -> None:
    """JSON endpoints get a small body limit; the file upload keeps the app-wide MAX_CONTENT_LENGTH."""
    if not (request.method == "POST" and request.path == "/v1/files"):
        request.max_content_length = get_services().config.max_request_bytes


def create_app(config: ServerConfig | None = None, start_runner: bool = True) -> Flask:
    config = config or config_from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 512 * 1024 * 1024
    services = create_services(config)
    app.extensions["local_openai"] = services
    errors.init_app(app)
    app.before_request(_check_api_key)
    app.before_request(_limit_body)
    for blueprint in (files.bp, fine_tuning.bp, chat.bp, models.bp):
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz():
        services = get_services()
        active = sum(job["status"] in ACTIVE for job in list(services.storage.jobs.values()))
        return jsonify({"status": "ok", "active_jobs": active, "loaded_models": services.models.loaded()})

    if start_runner:
        services.runner.start()
    log.info(
        "data dir %s: %d files, %d jobs, %d fine-tuned models",
        config.data_dir.resolve(),
        len(services.storage.files),
        len(services.storage.jobs),
        len(services.storage.models),
    )
    return app
