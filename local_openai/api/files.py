"""`/v1/files`: upload, list, retrieve, content, delete."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from local_openai.api.pagination import cursor_page
from local_openai.errors import InvalidRequest, NotFound
from local_openai.services import get_services
from local_openai.storage import creation_order, public

bp = Blueprint("files", __name__, url_prefix="/v1/files")

PURPOSES = ("fine-tune", "batch", "assistants", "user_data", "vision")


def get_file(file_id: str) -> dict:
    record = get_services().storage.files.get(file_id)
    if record is None:
        raise NotFound(f"No such File object: {file_id}", param="id", code="file_not_found")
    return record


@bp.post("")
def upload():
    purpose = request.form.get("purpose")
    if purpose not in PURPOSES:
        raise InvalidRequest(
            f"Invalid 'purpose': {purpose!r}; use one of {', '.join(PURPOSES)}", param="purpose", code="invalid_value"
        )
    upload = request.files.get("file")
    if upload is None:
        raise InvalidRequest(
            "Missing 'file': send the file as multipart form field 'file'",
            param="file",
            code="missing_required_parameter",
        )
    storage = get_services().storage
    record = storage.add_file(upload.filename or "upload.jsonl", purpose, upload.stream)
    if not record["bytes"]:
        storage.delete_file(record["id"])
        raise InvalidRequest("The uploaded file is empty", param="file", code="invalid_value")
    return jsonify(public(record))


@bp.get("")
def list_files():
    files = list(get_services().storage.files.values())
    if request.args.get("purpose"):
        files = [f for f in files if f["purpose"] == request.args["purpose"]]
    order = request.args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("Invalid 'order': use asc or desc", param="order", code="invalid_value")
    files.sort(key=creation_order, reverse=order == "desc")
    return jsonify(cursor_page([public(f) for f in files], default_limit=10000, max_limit=10000))


@bp.get("/<file_id>")
def retrieve(file_id: str):
    return jsonify(public(get_file(file_id)))


@bp.get("/<file_id>/content")
def content(file_id: str):
    record = get_file(file_id)
    mimetype = "text/csv" if record["filename"].endswith(".csv") else "application/octet-stream"
    return Response(get_services().storage.file_content(file_id), mimetype=mimetype)


@bp.delete("/<file_id>")
def delete(file_id: str):
    get_file(file_id)
    get_services().storage.delete_file(file_id)
    return jsonify({"id": file_id, "object": "file", "deleted": True})
