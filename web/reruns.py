"""The experiment page's Re-run and Retry buttons (the API's `rerun` and `retry`, answered with a redirect)."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask.typing import ResponseReturnValue

from shared.records import RecordError
from shared.rerun import RerunChanges
from shared.retry import RetryRefused
from shared.store import NotFound
from web.store import get_store
from worker.pipeline import rerun_experiment, retry_run

log = logging.getLogger(__name__)
bp = Blueprint("reruns", __name__, url_prefix="/experiments/<exp_id>")


@bp.post("/rerun")
def rerun(exp_id: str) -> ResponseReturnValue:
    store = get_store()
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        abort(404, description=f"There is no experiment {exp_id}.")
    if not store.has_dataset(record["dataset"]["sha256"]):
        flash(f"The dataset {record['dataset']['name']} is no longer stored; upload the same file again, then re-run.")
        return redirect(url_for("experiments.show", exp_id=exp_id))
    try:
        new_id = rerun_experiment(store, exp_id, RerunChanges(), current_app.config["SETTINGS"])
    except RecordError as exc:
        flash(f"Could not re-run {exp_id}: {exc}")
        return redirect(url_for("experiments.show", exp_id=exp_id))
    log.info("experiment %s re-runs %s (web page)", new_id, exp_id)
    flash(f"Experiment {new_id} queued: a re-run of {exp_id} on the same test items.")
    return redirect(url_for("experiments.show", exp_id=new_id))


@bp.post("/runs/<run_id>/retry")
def retry(exp_id: str, run_id: str) -> ResponseReturnValue:
    try:
        plan = retry_run(get_store(), exp_id, run_id)
    except NotFound as exc:
        abort(404, description=f"{exc}.")
    except RetryRefused as exc:
        flash(f"Not retried: {exc}.")
    else:
        flash(f"Queued the {plan.describe()}.")
    return redirect(url_for("experiments.show", exp_id=exp_id))
