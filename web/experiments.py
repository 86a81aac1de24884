"""Pages: the experiments list, the new-experiment form (check, then launch), the live experiment page, cancel."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from shared.estimates import spec_report
from shared.record_types import FINISHED_EXPERIMENT_STATUSES, ExperimentRecord
from shared.records import RecordError
from web.datasets import load_dataset, render_new_form
from web.experiment_form import parse_fields
from web.health import provider_warnings
from web.results import FILTERS, results_view
from web.store import get_store
from worker.pipeline import cancel_experiment, check_and_submit

log = logging.getLogger(__name__)
bp = Blueprint("experiments", __name__, url_prefix="/experiments")


class ListedExperiment(ExperimentRecord):
    """A record as the experiments list shows it."""

    best_accuracy: float | None


def best_accuracy(record: ExperimentRecord) -> float | None:
    scores = [metrics["accuracy"] for run in record.get("runs", []) if (metrics := run.get("metrics"))]
    return max(scores, default=None)


@bp.get("", endpoint="index")
def index() -> str:
    limit = request.args.get("limit", 50, type=int)
    records = get_store().list_experiments(limit=max(1, min(limit, 500)))
    experiments: list[ListedExperiment] = [{**record, "best_accuracy": best_accuracy(record)} for record in records]
    return render_template("experiments/list.html", experiments=experiments)


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    sha256 = request.values.get("dataset")
    if request.method == "GET":
        return render_new_form(load_dataset(sha256) if sha256 else None)
    if not sha256:
        return render_new_form(None, errors={"file": "Upload a CSV or pick an uploaded dataset first."}), 400
    dataset = load_dataset(sha256)
    draft = parse_fields(request.form, dataset, current_app.config["SETTINGS"])
    spec, split = draft.spec, draft.split
    if spec is None or split is None:
        return render_new_form(dataset, draft), 400
    if request.form.get("action") != "launch":
        report = spec_report(spec, split)
        return render_new_form(dataset, draft, report), (200 if report.ok else 400)
    try:
        launch = check_and_submit(get_store(), spec, split)
    except RecordError as exc:
        draft.errors["models"] = str(exc)
        return render_new_form(dataset, draft, spec_report(spec, split)), 400
    exp_id = launch.exp_id
    if exp_id is None:
        return render_new_form(dataset, draft, launch.report), 400
    log.info("experiment %s submitted from the form (%s)", exp_id, ", ".join(spec.models + spec.zero_shot))
    flash(f"Experiment {exp_id} queued.")
    for warning in provider_warnings():
        flash(warning)
    return redirect(url_for("experiments.show", exp_id=exp_id))


@bp.get("/<exp_id>")
def show(exp_id: str) -> str:
    record = get_store().get_experiment(exp_id)
    if record is None:
        abort(404, description=f"There is no experiment {exp_id}. See the experiments list for the ones that exist.")
    show = request.args.get("show", "all")
    if show not in FILTERS:
        show = "all"
    return render_template(
        "experiments/show.html",
        exp=record,
        finished_statuses=FINISHED_EXPERIMENT_STATUSES,
        show=show,
        results=results_view(record, show),
    )


@bp.post("/<exp_id>/cancel")
def cancel(exp_id: str) -> ResponseReturnValue:
    store = get_store()
    if not store.exists(exp_id):
        abort(404, description=f"There is no experiment {exp_id}.")
    cancel_experiment(store, exp_id)
    log.info("experiment %s cancel requested from the web page", exp_id)
    flash("Cancellation requested; running steps stop at their next check.")
    return redirect(url_for("experiments.show", exp_id=exp_id))
