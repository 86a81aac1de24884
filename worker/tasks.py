"""Thin Celery tasks over `shared.steps`: arguments are ids only (never keys or data), logic lives in the steps.

Ids flow forward: prepare -> upload -> file id -> start_fine_tune -> job id -> poll_fine_tune -> model id ->
evaluate. A run-level failure is recorded on the run and the chain passes `None` on, so the chord still reaches
`summarize` and the other runs are compared; an experiment-level failure (prepare, upload) ends the experiment.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, TypeVar

import openai
import redis
from celery import Task
from celery.exceptions import Ignore, Retry
from celery.utils.log import get_task_logger

from shared import steps
from shared.dataset import DatasetError
from shared.provider import make_client
from shared.redis_client import RETRIED_ERRORS, redis_client
from shared.settings import get_settings
from shared.store import Store
from worker.celery_app import app, evaluation_deadline_s, evaluation_slice_s

log = get_task_logger(__name__)
T = TypeVar("T")


@lru_cache(maxsize=1)
def store() -> Store:
    """The store over a client that retries each command across a Redis outage of up to TQ_REDIS_RETRY_S."""
    return Store(redis_client(get_settings()))


@lru_cache(maxsize=1)
def client() -> openai.OpenAI:
    return make_client(get_settings())


def transient_countdown(task: Task) -> float:
    settings = get_settings()
    return steps.backoff_s(task.request.retries, settings.poll_interval_s, settings.poll_max_interval_s)


def retry_after_redis_outage(task: Task, exc: redis.RedisError) -> Retry:
    """Redis stayed away longer than the client's retry window. The run's state is intact but cannot be written, so
    the run is neither failed (not its fault, and the failure could not be saved) nor given up on: the task runs
    again later. If even the retry cannot be sent, the unacknowledged message comes back after the visibility
    timeout."""
    countdown = transient_countdown(task)
    log.warning("%s: Redis is unreachable (%s); retrying in %.1f s", task.name, exc, countdown)
    return task.retry(exc=exc, countdown=countdown)


def run_step(task: Task, exp_id: str, run_id: str, step: Callable[[], T], transient_retries: int | None = -1,
             ) -> T | None:
    """Run a run-level step; record failure or cancellation on the run and return None so the chain goes on.

    A transient provider error is retried with backoff up to `transient_retries` times (-1: the configured
    `max_retries`; None: no cap, for polling, where the run's deadline decides); a Redis outage without a cap."""
    db = store()
    try:
        if steps.run_finished(db, exp_id, run_id):
            return None
        return step()
    except Retry:
        raise
    except RETRIED_ERRORS as exc:
        raise retry_after_redis_outage(task, exc)
    except steps.RunCancelled:
        steps.cancel_run(db, exp_id, run_id)
    except steps.StepError as exc:
        steps.fail_run(db, exp_id, run_id, str(exc))
    except Exception as exc:  # noqa: BLE001 - every error ends up on the run, where users look
        limit = get_settings().max_retries if transient_retries == -1 else transient_retries
        if steps.is_retryable(exc) and (limit is None or task.request.retries < limit):
            countdown = transient_countdown(task)
            db.add_event(exp_id, run_id, f"{steps.provider_error_message(exc)}; retrying in {countdown:.1f} s",
                         level="warning")
            raise task.retry(exc=exc, countdown=countdown)
        if steps.is_retryable(exc) or isinstance(exc, openai.OpenAIError):
            steps.fail_run(db, exp_id, run_id, steps.provider_error_message(exc))
        else:
            log.exception("%s %s: unexpected error in %s", exp_id, run_id, task.name)
            steps.fail_run(db, exp_id, run_id, f"unexpected error in {task.name}: {type(exc).__name__}: {exc}")
    return None


def experiment_step(task: Task, exp_id: str, step: Callable[[], T]) -> T:
    """Run an experiment-level step; on failure the experiment (and its runs) fail and the chain stops."""
    db = store()
    try:
        return step()
    except Retry:
        raise
    except RETRIED_ERRORS as exc:
        raise retry_after_redis_outage(task, exc)
    except steps.RunCancelled:
        steps.cancel_unfinished_runs(db, exp_id)
        db.update_experiment(exp_id, status="cancelled")
    except (steps.StepError, DatasetError) as exc:
        steps.fail_experiment(db, exp_id, str(exc))
    except Exception as exc:  # noqa: BLE001
        if steps.is_retryable(exc) and task.request.retries < get_settings().max_retries:
            countdown = transient_countdown(task)
            db.add_event(exp_id, None, f"{steps.provider_error_message(exc)}; retrying in {countdown:.1f} s",
                         level="warning")
            raise task.retry(exc=exc, countdown=countdown)
        if isinstance(exc, openai.OpenAIError) or steps.is_retryable(exc):
            steps.fail_experiment(db, exp_id, steps.provider_error_message(exc))
        else:
            log.exception("%s: unexpected error in %s", exp_id, task.name)
            steps.fail_experiment(db, exp_id, f"unexpected error in {task.name}: {type(exc).__name__}: {exc}")
    raise Ignore()


@app.task(name="tunequeue.prepare", bind=True, max_retries=None)
def prepare(self: Task, exp_id: str) -> str:
    experiment_step(self, exp_id, lambda: steps.prepare(store(), exp_id))
    return exp_id


@app.task(name="tunequeue.upload", bind=True, max_retries=None)
def upload(self: Task, exp_id: str) -> str:
    return experiment_step(self, exp_id, lambda: steps.upload(store(), client(), exp_id))


@app.task(name="tunequeue.start_fine_tune", bind=True, max_retries=None)
def start_fine_tune(self: Task, file_id: str | None, exp_id: str, run_id: str) -> str | None:
    if file_id is None:
        return None
    deadline_s = get_settings().fine_tune_deadline_s
    return run_step(self, exp_id, run_id,
                    lambda: steps.start_fine_tune(store(), client(), exp_id, run_id, file_id, deadline_s))


@app.task(name="tunequeue.poll_fine_tune", bind=True, max_retries=None)
def poll_fine_tune(self: Task, job_id: str | None, exp_id: str, run_id: str) -> str | None:
    """One look at the job; not finished yet means a retry after a backoff countdown (the run's deadline, not a
    retry count, ends the waiting), so no worker thread ever sleeps on a training job."""
    if job_id is None:
        return None
    result = run_step(self, exp_id, run_id, lambda: steps.poll_fine_tune(store(), client(), exp_id, run_id, job_id),
                      transient_retries=None)
    if result is None:
        return None
    if not result.finished:
        settings = get_settings()
        countdown = steps.backoff_s(self.request.retries, settings.poll_interval_s, settings.poll_max_interval_s)
        raise self.retry(countdown=countdown)
    return result.model


@app.task(name="tunequeue.evaluate", bind=True, max_retries=None)
def evaluate(self: Task, model: str | None, exp_id: str, run_id: str, stalled: int = 0) -> str | None:
    """Evaluate in slices: each task starts questions for `evaluation_slice_s` and stops every request and retry at
    `evaluation_deadline_s`, then hands the rest to a fresh task message (`stalled`: slices in a row that got no
    answer; past `max_retries` the provider is too slow and the run fails)."""
    if model is None:
        return None
    settings = get_settings()
    policy = steps.RequestPolicy(max_retries=settings.max_retries, first_backoff_s=0.5,
                                 max_backoff_s=settings.poll_max_interval_s, timeout_s=settings.request_timeout_s)
    progress = run_step(self, exp_id, run_id, lambda: steps.evaluate(
        store(), client().with_options(max_retries=0), exp_id, run_id, model, settings.eval_concurrency,
        evaluation_slice_s(settings), policy, deadline_s=evaluation_deadline_s(settings)), transient_retries=0)
    if progress is None:
        return None
    if progress.finished:
        return run_id
    stalled = 0 if progress.answered else stalled + 1
    if stalled > settings.max_retries:
        steps.fail_run(store(), exp_id, run_id,
                       f"the provider answered none of the remaining {progress.total - progress.done} questions in "
                       f"{stalled} tasks of {evaluation_deadline_s(settings):g} s each; raise TQ_VISIBILITY_TIMEOUT_S "
                       f"(a task may take half of it) or use a faster provider")
        return None
    raise hand_over(self, exp_id, run_id, progress, stalled)


def hand_over(task: Task, exp_id: str, run_id: str, progress: steps.EvalProgress, stalled: int) -> Retry:
    """End this evaluate task and continue in a fresh message for the same task (a Celery retry: same id and chain,
    so the chord still counts it once), which Redis's visibility timeout then measures from zero again."""
    log.info("%s %s: %d of %d answered; handing the rest to a fresh task%s", exp_id, run_id, progress.done,
             progress.total, f" ({stalled} slice(s) in a row without an answer)" if stalled else "")
    return task.retry(countdown=0, kwargs={"stalled": stalled})


@app.task(name="tunequeue.summarize", bind=True, max_retries=None)
def summarize(self: Task, exp_id: str) -> dict:
    return steps.summarize(store(), exp_id)
