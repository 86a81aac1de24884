"""The fine-tuning job of a run: create it exactly once, poll it, cancel it.

Jobs are created in OpenAI's current shape, hyperparameters under `method={"type": "supervised", "supervised":
{"hyperparameters": {...}}}`, and carry the metadata `{"tunequeue_experiment": exp_id, "tunequeue_run": run_id}` by
which a retried task finds the job an earlier attempt made; the experiment's validation file, when it has one, goes
as the job's `validation_file`. Polling never sleeps: `poll_fine_tune` looks once (and adds what is new to the run's
loss curve, `shared.loss_curve`) and the task schedules the next look after `poll_countdown_s`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob

from shared.loss_curve import refresh_loss_curve
from shared.provider_errors import TRANSIENT_ERRORS, is_retryable, provider_error_message
from shared.run_state import RunCancelled, StepError, check_not_cancelled, experiment_record
from shared.store import Store

log = logging.getLogger(__name__)

JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED = "succeeded", "failed", "cancelled"
METADATA_EXPERIMENT, METADATA_RUN = "tunequeue_experiment", "tunequeue_run"
METADATA_ATTEMPT = "tunequeue_attempt"
"""Set on the jobs of a retried run (attempt 2, 3, ...; `shared.retry`), so that a retry never finds an earlier
attempt's job."""
JOB_OPTIONS = ("suffix", "seed")
"""Hyperparameters of the record that go to the job itself; every other one goes to the training method."""
TRAINING_STARTED_EVENT = "Fine-tuning job started"


def job_metadata(exp_id: str, run_id: str, attempt: int = 1) -> dict[str, str]:
    retried = {METADATA_ATTEMPT: str(attempt)} if attempt > 1 else {}
    return {METADATA_EXPERIMENT: exp_id, METADATA_RUN: run_id, **retried}


def job_request(record: Mapping[str, Any], run: Mapping[str, Any], file_id: str) -> dict[str, Any]:
    """The arguments of `fine_tuning.jobs.create` for `run`: the record's hyperparameters under the supervised
    method, its suffix and seed (when set) on the job, its validation file (when uploaded), and the run's
    metadata."""
    chosen = dict(record.get("hyperparameters") or {})
    request: dict[str, Any] = {
        "model": run["base_model"],
        "training_file": file_id,
        "metadata": job_metadata(record["id"], run["id"], run.get("attempt", 1)),
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {name: value for name, value in chosen.items() if name not in JOB_OPTIONS}
            },
        },
    }
    if chosen.get("suffix"):
        request["suffix"] = chosen["suffix"]
    if chosen.get("seed") is not None:
        request["seed"] = chosen["seed"]
    if record.get("validation_file"):
        request["validation_file"] = record["validation_file"]["file_id"]
    return request


def find_job(client: openai.OpenAI, exp_id: str, run_id: str, attempt: int = 1) -> FineTuningJob | None:
    """The job this attempt of the run already created, found by its metadata (filtered by the server and checked
    here)."""
    wanted = job_metadata(exp_id, run_id, attempt)
    for job in client.fine_tuning.jobs.list(metadata=wanted, limit=100):
        if all((job.metadata or {}).get(key) == value for key, value in wanted.items()):
            return job
    return None


def start_fine_tune(
    store: Store,
    client: openai.OpenAI,
    exp_id: str,
    run_id: str,
    file_id: str,
    deadline_s: float,
    clock: Callable[[], float] = time.time,
) -> str:
    """Create the run's fine-tuning job exactly once and record its id before anything polls it.

    Idempotent: the stored job id wins; otherwise the provider is asked for a job carrying this run's metadata
    (a create whose response was lost to a timeout still made one); only then is a job created. The create goes
    out with the SDK's own retries off, because a blind resend after a timeout is how duplicate jobs happen: the
    task retries instead, and looks for the job first.
    """
    check_not_cancelled(store, exp_id)
    run = store.get_run(exp_id, run_id)
    if run.get("job_id"):
        return str(run["job_id"])
    job = find_job(client, exp_id, run_id, run.get("attempt", 1))
    if job is not None:
        store.add_event(exp_id, run_id, f"found the fine-tuning job {job.id} created by an earlier attempt")
    else:
        request = job_request(experiment_record(store, exp_id), run, file_id)
        try:
            job = client.with_options(max_retries=0).fine_tuning.jobs.create(**request)
        except openai.APIStatusError as exc:
            if is_retryable(exc):
                raise
            raise StepError(f"could not start fine-tuning {run['base_model']}: {provider_error_message(exc)}") from exc
        store.add_event(exp_id, run_id, f"created the fine-tuning job {job.id} for {run['base_model']}")
    store.update_run(
        exp_id,
        run_id,
        status="fine_tuning",
        file_id=file_id,
        job_id=job.id,
        job_status=job.status,
        validation_file=job.validation_file,
        deadline_at=clock() + deadline_s,
    )
    return job.id


FINISH_POLL_S = 1.0
"""How often a job is looked at just after its estimated finish has passed."""
MIN_POLL_S = 0.5
"""The shortest wait between two looks at a job, however close its estimated finish."""
OVERRUN_SLOWDOWN = 0.25
"""Past its estimated finish, a job is looked at again after this fraction of the time it has overrun the estimate
(at least FINISH_POLL_S): a stale estimate must not mean a look every second for hours."""


@dataclass(frozen=True)
class PollResult:
    finished: bool
    model: str | None = None
    job_status: str | None = None
    estimated_finish: float | None = None
    """The provider's estimate of when an unfinished job ends (unix seconds; OpenAI's `estimated_finish`)."""


def poll_countdown_s(backoff_s: float, estimated_finish: float | None, now: float) -> float:
    """The wait before the next look at a job that is not finished.

    Without an estimate, the backoff. With one, until the job's estimated finish, so that a job ending on time is
    seen to end within about a second; once that has passed, about every FINISH_POLL_S, longer the more the job
    overruns it (OVERRUN_SLOWDOWN). The estimate only ever shortens the wait, and not below MIN_POLL_S: the wait
    stays within [min(backoff_s, MIN_POLL_S), backoff_s], so TQ_POLL_MAX_INTERVAL_S remains its cap.
    """
    if estimated_finish is None:
        return backoff_s
    left = estimated_finish - now
    wait = left if left > 0 else max(FINISH_POLL_S, -left * OVERRUN_SLOWDOWN)
    return min(backoff_s, max(MIN_POLL_S, wait))


def training_started_at(client: openai.OpenAI, job_id: str) -> float | None:
    """When the provider started training, from its "Fine-tuning job started" event (OpenAI's wording, which
    local_openai uses too), so time queued behind other jobs is not counted; None when the provider has no such event.
    Polls see the status only every few seconds, so they are the fallback, then the job's creation."""
    try:
        events = client.fine_tuning.jobs.list_events(job_id, limit=100)
    except openai.OpenAIError:
        return None
    started = [event.created_at for event in events if event.message == TRAINING_STARTED_EVENT]  # every page
    return min(started) if started else None


def cancel_job(client: openai.OpenAI, job_id: str) -> None:
    """Ask the provider to cancel the job; a failure is logged, not raised (the run ends either way)."""
    try:
        client.fine_tuning.jobs.cancel(job_id)
    except openai.OpenAIError as exc:
        log.warning("could not cancel job %s: %s", job_id, provider_error_message(exc))


def poll_fine_tune(
    store: Store, client: openai.OpenAI, exp_id: str, run_id: str, job_id: str, clock: Callable[[], float] = time.time
) -> PollResult:
    """Look at the job once. Finished with a model id when it succeeded; raises when it failed, was cancelled, or
    ran past the run's deadline (then it is cancelled at the provider); otherwise not finished yet."""
    run = store.get_run(exp_id, run_id)
    if store.cancel_requested(exp_id):
        cancel_job(client, job_id)
        raise RunCancelled(exp_id)
    deadline = run.get("deadline_at")
    try:
        job = client.fine_tuning.jobs.retrieve(job_id)
    except TRANSIENT_ERRORS as exc:
        if deadline is not None and clock() > deadline:
            raise StepError(
                f"fine-tuning job {job_id} could not be checked before its deadline: {provider_error_message(exc)}"
            ) from exc
        raise
    if job.status != run.get("job_status"):
        store.add_event(exp_id, run_id, f"job {job_id}: {job.status}")
    refresh_loss_curve(store, client, exp_id, run, job)
    if job.status in (JOB_FAILED, JOB_CANCELLED):
        store.update_run(exp_id, run_id, job_status=job.status)  # recorded before raising ends the run
    if job.status == JOB_SUCCEEDED:
        trained = job.trained_tokens or 0
        started = training_started_at(client, job_id) or run.get("training_started_at") or job.created_at
        seconds = round(max(0.0, job.finished_at - started), 1) if job.finished_at and started else None
        store.update_run(
            exp_id,
            run_id,
            status="evaluating",
            job_status=job.status,
            fine_tuned_model=job.fine_tuned_model,
            trained_tokens=trained,
            training_seconds=seconds,
        )
        return PollResult(True, job.fine_tuned_model, job.status)
    if job.status == JOB_FAILED:
        reason = job.error.message if job.error and job.error.message else "no reason given"
        raise StepError(f"fine-tuning job {job_id} failed: {reason}")
    if job.status == JOB_CANCELLED:
        raise (
            RunCancelled(exp_id)
            if store.cancel_requested(exp_id)
            else StepError(f"fine-tuning job {job_id} was cancelled at the provider")
        )
    if deadline is not None and clock() > deadline:
        cancel_job(client, job_id)
        raise StepError(
            f"fine-tuning job {job_id} was still {job.status} at its deadline; it was cancelled "
            f"(raise TQ_FINE_TUNE_DEADLINE_S for longer jobs)"
        )
    if job.status != run.get("job_status"):
        started_at = {"training_started_at": clock()} if job.status == "running" else {}
        store.update_run(exp_id, run_id, job_status=job.status, **started_at)
    return PollResult(False, None, job.status, job.estimated_finish)
