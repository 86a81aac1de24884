"""The JSON API, mirroring the form: submit (202 + Location), list, get one (the stored record), cancel."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from shared.dataset_reading import DatasetError
from shared.records import RecordError
from shared.store import DatasetQuotaExceeded
from web.api_bodies import CancelBody, DatasetInUseBody, ErrorBody, ExperimentListBody, StoredDatasetBody, SubmittedBody
from web.api_fields import BodyError, json_to_fields
from web.datasets import load_dataset, store_upload
from web.experiment_form import UploadedDataset, parse_fields
from web.health import provider_warnings
from web.openapi import openapi_document
from web.store import get_store
from worker.pipeline import cancel_experiment, check_and_submit

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")


def _error(status: int, message: str, fields: dict[str, str] | None = None) -> ResponseReturnValue:
    body: ErrorBody = {"error": message}
    if fields:
        body["fields"] = fields
    return jsonify(body), status


def _request_fields() -> tuple[MultiDict[str, str], UploadedDataset]:
    """(fields, dataset): multipart with a `file`, or JSON naming an uploaded dataset by its sha256."""
    if request.is_json:
        body = request.get_json()
        if not isinstance(body, dict):
            abort(400, description='The body is not a JSON object; send {"dataset": "<sha256>", ...}.')
        if not body.get("dataset"):
            abort(
                400,
                description='Name the dataset: {"dataset": "<sha256 from POST /api/datasets>"}, '
                "or send multipart form data with a 'file'.",
            )
        try:
            fields = json_to_fields(body)
        except BodyError as exc:
            abort(400, description=str(exc))
        return fields, load_dataset(str(body["dataset"]))
    if "file" in request.files:
        return request.form, store_upload(request.files["file"])
    if request.form.get("dataset"):
        return request.form, load_dataset(request.form["dataset"])
    abort(400, description="Send multipart form data with a 'file' (CSV), or JSON naming an uploaded dataset.")


@bp.post("/datasets")
def upload_dataset() -> ResponseReturnValue:
    try:
        dataset = store_upload(request.files.get("file"))
    except DatasetError as exc:
        return _error(400, str(exc), {"file": str(exc)})
    except DatasetQuotaExceeded as exc:
        return _error(507, str(exc))
    stored: StoredDatasetBody = {"sha256": dataset.sha256, "name": dataset.name}
    return jsonify(stored), 201


@bp.delete("/datasets/<sha256>")
def delete_dataset(sha256: str) -> ResponseReturnValue:
    """Free the space of a dataset no unfinished experiment needs (finished ones keep their items and results)."""
    store = get_store()
    if not store.has_dataset(sha256):
        return _error(404, f"There is no dataset {sha256}.")
    needing = store.experiments_needing(sha256)
    if needing:
        in_use: DatasetInUseBody = {
            "error": f"Dataset {sha256} is still needed by unfinished experiment(s) {', '.join(needing)}; wait for "
            f"them to finish, or cancel them (POST /api/experiments/<id>/cancel), then delete it.",
            "experiments": needing,
        }
        return jsonify(in_use), 409
    store.delete_dataset(sha256)
    log.info("dataset %s deleted through the API", sha256[:12])
    return "", 204


@bp.post("/experiments")
def create_experiment() -> ResponseReturnValue:
    try:
        fields, dataset = _request_fields()
    except DatasetError as exc:
        return _error(400, str(exc), {"file": str(exc)})
    except DatasetQuotaExceeded as exc:
        return _error(507, str(exc))
    draft = parse_fields(fields, dataset, current_app.config["SETTINGS"])
    spec, split = draft.spec, draft.split
    if spec is None or split is None:
        return _error(400, "The experiment request is invalid; see 'fields'.", draft.errors)
    try:
        launch = check_and_submit(get_store(), spec, split)
    except RecordError as exc:
        return _error(400, str(exc))
    report, exp_id = launch.report, launch.exp_id
    if exp_id is None:
        invalid: ErrorBody = {"error": "The training file would be invalid; see 'report'.", "report": report.to_dict()}
        return jsonify(invalid), 400
    log.info("experiment %s submitted through the API", exp_id)
    location = url_for("api.get_experiment", exp_id=exp_id)
    submitted: SubmittedBody = {
        "id": exp_id,
        "url": location,
        "report": report.to_dict(),
        "warnings": provider_warnings(),
    }
    return jsonify(submitted), 202, {"Location": location}


@bp.get("/experiments")
def list_experiments() -> ResponseReturnValue:
    limit = request.args.get("limit", 50, type=int)
    listed: ExperimentListBody = {"experiments": get_store().list_experiments(limit=max(1, min(limit, 500)))}
    return jsonify(listed)


@bp.get("/experiments/<exp_id>")
def get_experiment(exp_id: str) -> ResponseReturnValue:
    """The stored record, exactly as `python -m worker show ID --json` prints it; `?predictions=0` leaves them out."""
    with_predictions = request.args.get("predictions", "1") not in ("0", "false", "no")
    record = get_store().get_experiment(exp_id, with_predictions=with_predictions)
    if record is None:
        return _error(404, f"There is no experiment {exp_id}.")
    return jsonify(record)


@bp.post("/experiments/<exp_id>/cancel")
def cancel(exp_id: str) -> ResponseReturnValue:
    store = get_store()
    if not store.exists(exp_id):
        return _error(404, f"There is no experiment {exp_id}.")
    cancel_experiment(store, exp_id)
    cancelled: CancelBody = {"id": exp_id, "cancel_requested": True}
    return jsonify(cancelled), 202


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())
