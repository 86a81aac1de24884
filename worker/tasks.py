"""Thin Celery tasks over the pipeline steps in `shared`: arguments are ids only (never keys or data), logic lives in
the steps, and one runner (`run_step`) turns what a step raises into a record, a retry or a hand-over.

Ids flow forward: prepare -> upload -> file id -> start_fine_tune -> job id -> poll_fine_tune -> model id ->
evaluate. A failure is recorded on the run (or, for prepare and upload, on the experiment and all its runs), then the
task raises `TaskFailed`, so Celery stores it as FAILURE with the error, as Flower shows it. The rest of the failed
run's chain is marked failed with it; the chord waits for the other runs, and its failed body hands over to
`summarize` through the body's error callback (`worker.pipeline.experiment_canvas`), so the experiment still ends
`partial` or `failed` with its comparison. A cancelled run passes `None` on instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import openai
import redis
from celery import Task
from celery.canvas import Signature
from celery.exceptions import Ignore, Retry
from celery.utils.log import get_task_logger

from shared import evaluate as evaluation
from shared import fine_tune_job, summary, tracking
from shared import prepare as preparation
from shared import upload as uploading
from shared.dataset_reading import DatasetError
from shared.provider import make_client
from shared.provider_errors import is_retryable, provider_error_message, retry_after_s
from shared.record_types import Summary
from shared.redis_client import RETRIED_ERRORS, redis_client
from shared.retries import backoff_s
from shared.run_state import Busy, RunCancelled, StepError, fail_run, record_cancelled, record_failure, run_finished
from shared.settings import get_settings
from shared.store import Store
from worker.celery_app import app, evaluation_deadline_s, evaluation_slice_s

log = get_task_logger(__name__)
T = TypeVar("T")
USE_MAX_RETRIES = -1
"""`run_step(transient_retries=...)`: retry a transient provider error up to the configured TQ_MAX_RETRIES times."""


class TaskFailed(Exception):
    """A step failed and its failure is recorded on the run (or the experiment): raised so that the task ends in
    FAILURE with the same message. Declared in each task's `throws`, so the worker logs it without a traceback."""


@lru_cache(maxsize=1)
def store() -> Store:
    """The store over a client that retries each command across a Redis outage of up to TQ_REDIS_RETRY_S."""
    return Store(redis_client(get_settings()))


@lru_cache(maxsize=1)
def client() -> openai.OpenAI:
    """The provider client, with the SDK's retries (TQ_MAX_RETRIES) and timeout (TQ_REQUEST_TIMEOUT_S)."""
    return make_client(get_settings())


def transient_countdown(task: Task, exc: BaseException | None = None) -> float:
    """The wait before a task's next try: backoff from TQ_POLL_INTERVAL_S, or the provider's Retry-After when it
    asks for longer, never past TQ_POLL_MAX_INTERVAL_S (a task waiting on a countdown is held by a worker, and must
    be back before the visibility timeout)."""
    settings = get_settings()
    countdown = backoff_s(task.request.retries, settings.poll_interval_s, settings.poll_max_interval_s)
    asked = retry_after_s(exc) if exc is not None else None
    return min(settings.poll_max_interval_s, max(countdown, asked or 0.0))


def retry_after_redis_outage(task: Task, exc: redis.RedisError) -> Retry:
    """Redis stayed away longer than the client's retry window. The run's state is intact but cannot be written, so
    the run is neither failed (not its fault, and the failure could not be saved) nor given up on: the task runs
    again later. If even the retry cannot be sent, the unacknowledged message comes back after the visibility
    timeout."""
    countdown = transient_countdown(task)
    log.warning("%s: Redis is unreachable (%s); retrying in %.1f s", task.name, exc, countdown)
    return task.retry(exc=exc, countdown=countdown)


def run_step(
    task: Task, exp_id: str, run_id: str | None, step: Callable[[], T], transient_retries: int | None = USE_MAX_RETRIES
) -> T | None:
    """Run one step for a run (`run_id`) or for the whole experiment (`run_id` None).

    A cancellation is recorded on the run (and None returned, so the chain goes on to the chord) or on the experiment
    and all its runs (and the chain stops). A failure is recorded the same way, then raised as `TaskFailed`. A
    transient provider error is retried with a countdown up
    to `transient_retries` times (USE_MAX_RETRIES: TQ_MAX_RETRIES; None: no cap, for polling, where the run's
    deadline decides); a Redis outage, or a run busy in another task, without a cap."""
    db = store()
    try:
        if run_id is not None and run_finished(db, exp_id, run_id):
            return None
        return step()
    except Retry:
        raise
    except RETRIED_ERRORS as exc:
        raise retry_after_redis_outage(task, exc) from exc
    except Busy as exc:
        log.info("%s %s: %s", exp_id, run_id, exc)
        raise task.retry(countdown=min(exc.retry_in_s, get_settings().poll_max_interval_s)) from exc
    except RunCancelled:
        record_cancelled(db, exp_id, run_id)
        if run_id is None:
            raise Ignore() from None
        return None
    except (StepError, DatasetError) as exc:
        failure = str(exc)
    except Exception as exc:  # noqa: BLE001 - every error ends up on the run or experiment, where users look
        limit = get_settings().max_retries if transient_retries == USE_MAX_RETRIES else transient_retries
        if is_retryable(exc) and (limit is None or task.request.retries < limit):
            countdown = transient_countdown(task, exc)
            db.add_event(
                exp_id, run_id, f"{provider_error_message(exc)}; retrying in {countdown:.1f} s", level="warning"
            )
            raise task.retry(exc=exc, countdown=countdown) from exc
        if is_retryable(exc) or isinstance(exc, openai.OpenAIError):
            failure = provider_error_message(exc)
        else:
            log.exception("%s %s: unexpected error in %s", exp_id, run_id or "", task.name)
            failure = f"unexpected error in {task.name}: {type(exc).__name__}: {exc}"
    record_failure(db, exp_id, run_id, failure)
    raise TaskFailed(failure)


@app.task(name="tunequeue.prepare", bind=True, max_retries=None, throws=(TaskFailed,))
def prepare(self: Task, exp_id: str) -> str:
    run_step(self, exp_id, None, lambda: preparation.prepare(store(), exp_id))
    return exp_id


@app.task(name="tunequeue.upload", bind=True, max_retries=None, throws=(TaskFailed,))
def upload(self: Task, exp_id: str) -> str | None:
    return run_step(self, exp_id, None, lambda: uploading.upload(store(), client(), exp_id))


@app.task(name="tunequeue.start_fine_tune", bind=True, max_retries=None, throws=(TaskFailed,))
def start_fine_tune(self: Task, file_id: str | None, exp_id: str, run_id: str) -> str | None:
    if file_id is None:
        return None
    deadline_s = get_settings().fine_tune_deadline_s
    return run_step(
        self,
        exp_id,
        run_id,
        lambda: fine_tune_job.start_fine_tune(store(), client(), exp_id, run_id, file_id, deadline_s),
    )


@app.task(name="tunequeue.poll_fine_tune", bind=True, max_retries=None, throws=(TaskFailed,))
def poll_fine_tune(self: Task, job_id: str | None, exp_id: str, run_id: str) -> str | None:
    """One look at the job; not finished yet means a retry after a countdown (the run's deadline, not a retry
    count, ends the waiting), so no worker thread ever sleeps on a training job. The countdown is the backoff, or
    less when the job's estimated finish comes sooner (`fine_tune_job.poll_countdown_s`)."""
    if job_id is None:
        return None
    result = run_step(
        self,
        exp_id,
        run_id,
        lambda: fine_tune_job.poll_fine_tune(store(), client(), exp_id, run_id, job_id),
        transient_retries=None,
    )
    if result is None:
        return None
    if not result.finished:
        countdown = fine_tune_job.poll_countdown_s(transient_countdown(self), result.estimated_finish, time.time())
        raise self.retry(countdown=countdown)
    return result.model


@app.task(name="tunequeue.evaluate", bind=True, max_retries=None, throws=(TaskFailed,))
def evaluate(self: Task, model: str | None, exp_id: str, run_id: str, stalled: int = 0) -> str | None:
    """Evaluate in slices: each task starts questions for `evaluation_slice_s` and ends every request, with its SDK
    retries, by `evaluation_deadline_s`, then hands the rest to a fresh task message (`stalled`: slices in a row
    that got no answer; past `max_retries` the provider is too slow and the run fails)."""
    if model is None:
        return None
    settings = get_settings()
    limits = evaluation.CallLimits(timeout_s=settings.request_timeout_s, max_retries=settings.max_retries)
    progress = run_step(
        self,
        exp_id,
        run_id,
        lambda: evaluation.evaluate(
            store(),
            client(),
            exp_id,
            run_id,
            model,
            settings.eval_concurrency,
            evaluation_slice_s(settings),
            limits,
            deadline_s=evaluation_deadline_s(settings),
        ),
        transient_retries=0,
    )
    if progress is None:
        return None
    if progress.finished:
        return run_id
    stalled = 0 if progress.answered else stalled + 1
    if stalled > settings.max_retries:
        failure = (
            f"the provider answered none of the remaining {progress.total - progress.done} questions in "
            f"{stalled} tasks of {evaluation_deadline_s(settings):g} s each; raise TQ_VISIBILITY_TIMEOUT_S "
            f"(a task may take half of it) or use a faster provider"
        )
        fail_run(store(), exp_id, run_id, failure)
        raise TaskFailed(failure)
    # Task.replace sends the continuation and ends this task (raising Ignore): the continuation has this task's id,
    # chord and chain, so the chord counts the run once, and it is a fresh message, not a retry.
    replaced: str | None = self.replace(hand_over(model, exp_id, run_id, progress, stalled))
    return replaced


def hand_over(model: str, exp_id: str, run_id: str, progress: evaluation.EvalProgress, stalled: int) -> Signature:
    """The rest of an evaluation, as a fresh `evaluate` message to replace the current task with (Redis's visibility
    timeout then measures from zero again). A wait the provider asked for (Retry-After) becomes the countdown, at
    most TQ_POLL_MAX_INTERVAL_S."""
    log.info(
        "%s %s: %d of %d answered; handing the rest to a fresh task%s",
        exp_id,
        run_id,
        progress.done,
        progress.total,
        f" ({stalled} slice(s) in a row without an answer)" if stalled else "",
    )
    countdown = min(progress.wait_s, get_settings().poll_max_interval_s)
    return evaluate.si(model, exp_id, run_id, stalled=stalled).set(countdown=countdown)


@app.task(name="tunequeue.summarize", bind=True, max_retries=None)
def summarize(self: Task, exp_id: str) -> Summary:
    """Close the experiment, then log it to MLflow when MLFLOW_TRACKING_URI is set (never failing it)."""
    result = summary.summarize(store(), exp_id)
    tracking.track(store(), exp_id, get_settings())
    return result
