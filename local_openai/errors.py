"""OpenAI's error body `{"error": {"message", "type", "param", "code"}}` and the exceptions that produce it."""

from __future__ import annotations

import secrets

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from local_openai.trainers.base import ClientError


class APIError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(APIError):
    status = 400


class Unauthorized(APIError):
    status = 401


class NotFound(APIError):
    status = 404


class ServerError(APIError):
    status = 500
    type = "server_error"


def model_not_found(model_id: str) -> NotFound:
    """OpenAI's 404 for a model id that names no model here."""
    return NotFound(
        f"The model `{model_id}` does not exist or you do not have access to it.", param="model", code="model_not_found"
    )


def _respond(error: APIError):
    return jsonify(error.body()), error.status


def init_app(app: Flask) -> None:
    app.register_error_handler(APIError, _respond)
    app.register_error_handler(
        ClientError, lambda exc: _respond(InvalidRequest(str(exc), param=exc.param, code=exc.code))
    )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        # Unknown routes, wrong methods and malformed bodies also answer in OpenAI's shape.
        return _respond(
            APIError(exc.description or exc.name, code=exc.name.lower().replace(" ", "_"), status=exc.code or 500)
        )

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        return _respond(
            APIError(
                f"The request body is larger than this endpoint accepts ({request.max_content_length} "
                "bytes); send a smaller request",
                code="request_too_large",
                status=413,
            )
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # The exception's text can hold paths, model internals or request data: it goes to the log, not the client.
        error_id = secrets.token_hex(6)
        app.logger.exception("unhandled error %s on %s %s", error_id, request.method, request.path)
        return _respond(
            ServerError(
                f"The server had an error while processing your request (error id {error_id}; "
                "the server log has the details). Retry, or report the error id."
            )
        )
