"""What a step records when it cannot go on: a failed or cancelled run, or a failed or cancelled experiment.

Steps raise `StepError` (the message is shown to users as the run's or experiment's error), `RunCancelled` (the user
cancelled the experiment) or `Busy` (another task is working on the same run: come back later); the step runner in
`worker.tasks` turns them into the records written here. A run is `finished` once its status is one of
`shared.records.FINISHED_RUN_STATUSES`, and a finished run is never changed again.
"""

from __future__ import annotations

import logging

from shared.record_types import ExperimentRecord
from shared.records import FINISHED_RUN_STATUSES
from shared.store import Store

log = logging.getLogger(__name__)


class StepError(Exception):
    """The step cannot succeed; the message is shown to the user as the run's (or experiment's) error."""


class RunCancelled(Exception):
    """The experiment was cancelled; the run stops where it is."""


class Busy(Exception):
    """Another task holds the run (a late copy of the same task still finishing its slice); try again in
    `retry_in_s` seconds."""

    def __init__(self, what: str, retry_in_s: float) -> None:
        super().__init__(f"{what} is busy; retrying in {retry_in_s:.1f} s")
        self.retry_in_s = retry_in_s


def experiment_record(store: Store, exp_id: str) -> ExperimentRecord:
    """The record without predictions (steps read those per run, from the prediction hash)."""
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        raise StepError(f"experiment {exp_id} is not in the store (was Redis flushed?)")
    return record


def check_not_cancelled(store: Store, exp_id: str) -> None:
    if store.cancel_requested(exp_id):
        raise RunCancelled(exp_id)


def run_finished(store: Store, exp_id: str, run_id: str) -> bool:
    return store.get_run(exp_id, run_id).get("status") in FINISHED_RUN_STATUSES


def fail_run(store: Store, exp_id: str, run_id: str, message: str) -> None:
    log.error("%s %s failed: %s", exp_id, run_id, message)
    store.update_run(exp_id, run_id, status="failed", error=message)
    store.add_event(exp_id, run_id, message, level="error")


def cancel_run(store: Store, exp_id: str, run_id: str) -> None:
    if not run_finished(store, exp_id, run_id):
        store.update_run(exp_id, run_id, status="cancelled")
        store.add_event(exp_id, run_id, "cancelled", level="warning")


def fail_experiment(store: Store, exp_id: str, message: str) -> None:
    """An experiment-level step failed: no run can start, so every unfinished run ends with the same reason."""
    log.error("%s failed: %s", exp_id, message)
    store.update_experiment(exp_id, status="failed", error=message)
    store.add_event(exp_id, None, message, level="error")
    for run in experiment_record(store, exp_id)["runs"]:
        if run["status"] not in FINISHED_RUN_STATUSES:
            store.update_run(exp_id, run["id"], status="failed", error=f"not started: {message}")


def cancel_experiment_runs(store: Store, exp_id: str) -> None:
    """A cancel seen by an experiment-level step: the runs' chains never start, so their runs end here."""
    for run in experiment_record(store, exp_id)["runs"]:
        cancel_run(store, exp_id, run["id"])
    store.update_experiment(exp_id, status="cancelled")


def record_failure(store: Store, exp_id: str, run_id: str | None, message: str) -> None:
    """A run-level step (`run_id`) fails its run; an experiment-level step (`run_id` None) the experiment."""
    if run_id is None:
        fail_experiment(store, exp_id, message)
    else:
        fail_run(store, exp_id, run_id, message)


def record_cancelled(store: Store, exp_id: str, run_id: str | None) -> None:
    if run_id is None:
        cancel_experiment_runs(store, exp_id)
    else:
        cancel_run(store, exp_id, run_id)
