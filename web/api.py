"""The JSON API, mirroring the form: submit (202 + Location), list, get one (the stored record), cancel, re-run an
experiment, retry a run, and compare runs across experiments."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from shared.comparison import ComparisonError
from shared.dataset_reading import DatasetError
from shared.records import RecordError
from shared.rerun import rerun_changes
from shared.retry import RetryRefused
from shared.store import DatasetQuotaExceeded, NotFound
from web.api_bodies import (
    CancelBody,
    DatasetInUseBody,
    ErrorBody,
    ExperimentListBody,
    RerunBody,
    RetryBody,
    StoredDatasetBody,
    SubmittedBody,
)
from web.api_fields import BodyError, json_to_fields
from web.compare import compare_refs
from web.datasets import load_dataset, store_upload
from web.experiment_form import UploadedDataset, parse_fields
from web.health import provider_warnings
from web.openapi import openapi_document
from web.store import get_store
from worker.pipeline import cancel_experiment, check_and_submit, rerun_experiment, retry_run

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")


def _error(status: int, message: str, fields: dict[str, str] | None = None) -> ResponseReturnValue:
    body: ErrorBody = {"error": message}
    if fields:
        body["fields"] = fields
    return jsonify(body), status


def _sentence(exc: Exception) -> str:
    """An error message from `shared` (lower case, no full stop) as the API words its errors."""
    message = str(exc)
    return f"{message[:1].upper()}{message[1:]}{'' if message.endswith('.') else '.'}"


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


def _optional_json_object() -> dict[str, object]:
    """The JSON object of a request whose body may be left empty (an empty body is {})."""
    if not request.get_data(cache=True).strip():
        return {}
    body = request.get_json() if request.is_json else None
    if not isinstance(body, dict):
        abort(
            400,
            description="The body is not a JSON object; send application/json such as "
            '{"models": ["local-tfidf"]}, or no body at all.',
        )
    return body


@bp.post("/experiments/<exp_id>/rerun")
def rerun(exp_id: str) -> ResponseReturnValue:
    """A new experiment with this one's dataset, split and spec (optionally other models or seed)."""
    store = get_store()
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        return _error(404, f"There is no experiment {exp_id}.")
    sha256 = record["dataset"]["sha256"]
    if not store.has_dataset(sha256):
        return _error(
            409,
            f"The dataset of {exp_id} ({record['dataset']['name']}, {sha256}) is no longer stored. "
            f"Upload the same file again (POST /api/datasets; the same bytes get the same sha256), "
            f"then re-run.",
        )
    try:
        new_id = rerun_experiment(store, exp_id, rerun_changes(_optional_json_object()), current_app.config["SETTINGS"])
    except RecordError as exc:
        return _error(400, str(exc), {exc.field: str(exc)} if exc.field else None)
    log.info("experiment %s re-runs %s (API)", new_id, exp_id)
    location = url_for("api.get_experiment", exp_id=new_id)
    queued: RerunBody = {"id": new_id, "url": location, "rerun_of": exp_id}
    return jsonify(queued), 202, {"Location": location}


@bp.post("/experiments/<exp_id>/runs/<run_id>/retry")
def retry(exp_id: str, run_id: str) -> ResponseReturnValue:
    """Run one failed or cancelled run again in place, reusing what already succeeded."""
    store = get_store()
    if not store.exists(exp_id):
        return _error(404, f"There is no experiment {exp_id}.")
    try:
        plan = retry_run(store, exp_id, run_id)
    except NotFound as exc:
        return _error(404, _sentence(exc))
    except RetryRefused as exc:
        return _error(409, _sentence(exc))
    location = url_for("api.get_experiment", exp_id=exp_id)
    queued: RetryBody = {
        "id": exp_id,
        "run": run_id,
        "attempt": plan.attempt,
        "evaluation_only": plan.evaluation_only,
        "message": plan.describe(),
        "url": location,
    }
    return jsonify(queued), 202, {"Location": location}


@bp.get("/compare")
def compare() -> ResponseReturnValue:
    """Runs from any experiments side by side, with paired tests: `?runs=<exp_id>:<run_id>,...`."""
    try:
        return jsonify(compare_refs(request.args.getlist("runs")))
    except ComparisonError as exc:
        return _error(400, _sentence(exc))
    except NotFound as exc:
        return _error(404, _sentence(exc))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())
