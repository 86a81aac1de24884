"""Retrying one failed or cancelled run in place, keeping what already succeeded.

- the split: prepare runs again only if it never stored the items;
- the uploaded training file: the upload step returns the stored file id when there is one;
- the fine-tuned model: if the run's job had succeeded, only the evaluation runs again, and it asks only the test
  items that have no stored answer yet.

Otherwise the run is trained again as a new attempt (`attempt` 2, 3, ...), whose job carries the attempt in its
metadata, so the job lookup of `shared.fine_tune_job` does not pick up the failed job of an earlier attempt. The
experiment's summary and status are recomputed by the summarize step the retry ends with.

A run is retried only once every run of its experiment has finished: no chain is still writing the experiment
(its own summarize included), and the cancel flag can be cleared without waking a run still being cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.record_types import ExperimentRecord, RunKind, RunState
from shared.records import FINISHED_RUN_STATUSES
from shared.store import NotFound, Store

RETRYABLE_STATUSES = ("failed", "cancelled")
RETRAIN_DROPPED = ("deadline_at", "training_started_at", "evaluated_model")
"""Run fields of the earlier attempt's job, dropped when the run is trained again."""


class RetryRefused(Exception):
    """The run cannot be retried now; the message says why and what to do (an HTTP 409)."""


@dataclass(frozen=True)
class RetryPlan:
    """What the retry of one run does: `prepare` the split again or not, then train or not, then evaluate `model`
    (None: the model the new fine-tuning job makes)."""

    exp_id: str
    run_id: str
    kind: RunKind
    attempt: int
    prepare: bool
    model: str | None
    training_file: str | None

    @property
    def evaluation_only(self) -> bool:
        return self.model is not None

    def describe(self) -> str:
        """One line for the run's events and the API's answer."""
        if self.kind == "zero-shot":
            steps = f"evaluating {self.model} zero-shot again, keeping the answers already stored"
        elif self.model is not None:
            steps = f"evaluating the fine-tuned model {self.model} again, keeping the answers already stored"
        else:
            reused = f"the uploaded training file {self.training_file}" if self.training_file else "a new upload"
            steps = f"fine-tuning again from {reused}, then evaluating"
        return (
            f"retry {self.attempt - 1} of {self.run_id}: {'preparing the split, then ' if self.prepare else ''}{steps}"
        )


def plan_retry(record: ExperimentRecord, run_id: str, has_items: bool) -> RetryPlan:
    """What a retry of `run_id` would do; raises NotFound for an unknown run and RetryRefused when it cannot be
    retried now."""
    run = next((run for run in record["runs"] if run["id"] == run_id), None)
    if run is None:
        raise NotFound(
            f"experiment {record['id']} has no run {run_id}; its runs are {', '.join(r['id'] for r in record['runs'])}"
        )
    if run["status"] not in RETRYABLE_STATUSES:
        raise RetryRefused(
            f"{run_id} of {record['id']} is {run['status']}; only a failed or cancelled run can be "
            f"retried (to run a finished experiment again, re-run it: POST "
            f"/api/experiments/{record['id']}/rerun)"
        )
    busy = [
        f"{other['id']} ({other['status']})" for other in record["runs"] if other["status"] not in FINISHED_RUN_STATUSES
    ]
    if busy:
        raise RetryRefused(
            f"experiment {record['id']} still has unfinished runs: {', '.join(busy)}; retry "
            f"{run_id} once they have finished (or cancel the experiment)"
        )
    model: str | None = None
    if run["kind"] == "zero-shot":
        model = run["base_model"]
    elif run.get("job_status") == "succeeded" and run.get("fine_tuned_model"):
        model = run["fine_tuned_model"]
    uploaded = record.get("training_file")
    return RetryPlan(
        exp_id=record["id"],
        run_id=run_id,
        kind=run["kind"],
        attempt=run.get("attempt", 1) + 1,
        prepare=not has_items,
        model=model,
        training_file=uploaded["file_id"] if uploaded else None,
    )


def _reset_fields(plan: RetryPlan) -> dict[str, object]:
    fields: dict[str, object] = {
        "status": "pending",
        "error": None,
        "finished_at": None,
        "metrics": None,
        "usage": None,
        "cost_usd": None,
        "cost_note": None,
        "attempt": plan.attempt,
    }
    if not plan.evaluation_only:
        fields.update(
            job_id=None,
            job_status=None,
            fine_tuned_model=None,
            file_id=None,
            training_seconds=None,
            trained_tokens=None,
            validation_file=None,
            loss_curve=[],
            progress={"done": 0, "total": 0},
        )
    return fields


def start_retry(store: Store, exp_id: str, run_id: str) -> RetryPlan:
    """Check that the run may be retried and reset it (and the experiment) for the retry; the caller then enqueues
    the plan. Of two retries of the same run at once, one gets RetryRefused."""
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        raise NotFound(f"there is no experiment {exp_id}")
    plan = plan_retry(record, run_id, has_items=store.get_items(exp_id) is not None)
    reset: RunState | None = store.update_run_if(
        exp_id,
        run_id,
        RETRYABLE_STATUSES,
        remove=() if plan.evaluation_only else RETRAIN_DROPPED,
        **_reset_fields(plan),
    )
    if reset is None:
        raise RetryRefused(f"{run_id} of {exp_id} is already being retried")
    if not plan.evaluation_only:
        store.clear_predictions(exp_id, run_id)
    store.update_experiment(
        exp_id, status="queued" if plan.prepare else "running", error=None, finished_at=None, cancel_requested=False
    )
    store.add_event(exp_id, None, plan.describe())
    store.add_event(exp_id, run_id, plan.describe())
    return plan
