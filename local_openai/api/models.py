"""`/v1/models`: the available base models, fine-tuned models and checkpoints; delete for fine-tuned ones."""

from __future__ import annotations

from flask import Blueprint, jsonify

from local_openai.errors import InvalidRequest, model_not_found
from local_openai.services import get_services
from local_openai.trainers import available_base_models

bp = Blueprint("models", __name__, url_prefix="/v1/models")

# Base models exist as long as the server does; a fixed timestamp keeps their listing stable.
BASE_MODEL_CREATED = 1767225600


def _public(record: dict) -> dict:
    return {"id": record["id"], "object": "model", "created": record["created"], "owned_by": record["owned_by"]}


def all_models() -> list[dict]:
    base = [
        {"id": name, "object": "model", "created": BASE_MODEL_CREATED, "owned_by": "local"}
        for name in available_base_models()
    ]
    tuned = sorted(get_services().storage.models.values(), key=lambda m: (m["created"], m["id"]))
    return base + [_public(m) for m in tuned]


@bp.get("")
def list_models():
    return jsonify({"object": "list", "data": all_models()})


@bp.get("/<path:model_id>")
def retrieve(model_id: str):
    for model in all_models():
        if model["id"] == model_id:
            return jsonify(model)
    raise model_not_found(model_id)


@bp.delete("/<path:model_id>")
def delete(model_id: str):
    services = get_services()
    if model_id not in services.storage.models:
        if model_id in available_base_models():
            raise InvalidRequest(
                f"The model `{model_id}` is a base model and cannot be deleted",
                param="model",
                code="model_not_deletable",
            )
        raise model_not_found(model_id)
    services.models.unload(model_id)
    services.storage.delete_model(model_id)
    return jsonify({"id": model_id, "object": "model", "deleted": True})
