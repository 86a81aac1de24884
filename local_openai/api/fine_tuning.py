"""`/v1/fine_tuning/jobs`: create, list (with metadata filter), retrieve, events, checkpoints, cancel."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from local_openai.api.hyperparameters import checked_seed, requested_hyperparameters
from local_openai.api.json_body import json_object
from local_openai.api.pagination import cursor_page
from local_openai.errors import InvalidRequest, NotFound
from local_openai.job_record import FINISHED, new_job
from local_openai.services import get_services
from local_openai.storage import creation_order, public
from local_openai.trainers import available_base_models

bp = Blueprint("fine_tuning", __name__, url_prefix="/v1/fine_tuning/jobs")

_METADATA_ARG = re.compile(r"^metadata\[(.+)\]$")


def get_job(job_id: str) -> dict:
    job = get_services().storage.jobs.get(job_id)
    if job is None:
        raise NotFound(f"Could not find fine-tuning job {job_id}", param="fine_tuning_job_id", code="job_not_found")
    return job


def _metadata(body: dict) -> dict | None:
    metadata = body.get("metadata")
    if metadata is None:
        return None
    if (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in metadata.items()
        )
    ):
        raise InvalidRequest(
            "'metadata' must be an object of at most 16 string keys (<= 64 chars) and string values (<= 512 chars)",
            param="metadata",
            code="invalid_value",
        )
    return metadata


def _file_param(body: dict, param: str, required: bool) -> str | None:
    file_id = body.get(param)
    if file_id is None and not required:
        return None
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest(f"Missing required parameter: '{param}'", param=param, code="missing_required_parameter")
    if file_id not in get_services().storage.files:
        raise InvalidRequest(
            f"Invalid file '{file_id}': no such file; upload it with purpose fine-tune first",
            param=param,
            code="invalid_file",
        )
    return file_id


@bp.post("")
def create():
    body = json_object()
    model = body.get("model")
    if not isinstance(model, str) or model not in available_base_models():
        raise InvalidRequest(
            f"Model {model!r} is not available for fine-tuning; use one of {', '.join(available_base_models())}",
            param="model",
            code="model_not_available",
        )
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64 or ":" in suffix):
        raise InvalidRequest(
            "'suffix' must be a string of at most 64 characters without ':'", param="suffix", code="invalid_value"
        )
    seed = checked_seed(body.get("seed"))
    hyperparameters = requested_hyperparameters(body)
    job = new_job(
        model=model,
        training_file=_file_param(body, "training_file", required=True),
        validation_file=_file_param(body, "validation_file", required=False),
        hyperparameters=hyperparameters,
        seed=seed,
        suffix=suffix,
        metadata=_metadata(body),
    )
    services = get_services()
    services.storage.save_job(job)
    services.storage.add_event(job["id"], f"Created fine-tuning job: {job['id']}")
    services.runner.submit(job["id"])
    return jsonify(public(job))


@bp.get("")
def list_jobs():
    wanted = {m.group(1): value for key, value in request.args.items() if (m := _METADATA_ARG.match(key))}
    jobs = [
        job
        for job in list(get_services().storage.jobs.values())
        if all((job.get("metadata") or {}).get(key) == value for key, value in wanted.items())
    ]
    jobs.sort(key=creation_order, reverse=True)
    return jsonify(cursor_page([public(j) for j in jobs], default_limit=20))


@bp.get("/<job_id>")
def retrieve(job_id: str):
    return jsonify(public(get_job(job_id)))


@bp.get("/<job_id>/events")
def events(job_id: str):
    get_job(job_id)
    newest_first = list(reversed(get_services().storage.events.get(job_id, [])))
    return jsonify(cursor_page(newest_first, default_limit=20, max_limit=1000))


@bp.get("/<job_id>/checkpoints")
def checkpoints(job_id: str):
    get_job(job_id)
    newest_first = list(reversed(get_services().storage.checkpoints.get(job_id, [])))
    return jsonify(cursor_page(newest_first, default_limit=10))


@bp.post("/<job_id>/cancel")
def cancel(job_id: str):
    job = get_job(job_id)
    if job["status"] in FINISHED:
        raise InvalidRequest(
            f"Job {job_id} has already {job['status']} and cannot be cancelled",
            param="fine_tuning_job_id",
            code="job_already_finished",
        )
    return jsonify(public(get_services().runner.cancel(job_id)))
