"""Checking, building and enqueuing an experiment's canvas, re-running an experiment, retrying one of its runs, and
cancelling an experiment: the worker's public module, the only one web/ imports (it also hands /healthz the queue
names and the worker probe).

    prepare -> upload -> chord([start_fine_tune -> poll_fine_tune -> evaluate] per fine-tuned run
                               + [evaluate] per zero-shot run) -> summarize
    retry:  [prepare] -> [upload -> start_fine_tune -> poll_fine_tune] -> evaluate -> summarize

A failed run's task ends in FAILURE, which fails the chord's body once every run has finished; the body's error
callback is `summarize` too, so the experiment is summarized either way.

Only ids travel through the broker; the dataset and every result live in the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import openai
from celery import chain, chord
from celery.backends.asynchronous import AsyncBackendMixin
from celery.backends.base import SyncBackendMixin
from celery.canvas import Signature
from celery.result import ResultBase

from shared.dataset_sampling import Split
from shared.estimates import Report, spec_report
from shared.fine_tune_job import cancel_job
from shared.provider import make_client
from shared.record_types import FINISHED_EXPERIMENT_STATUSES, ExperimentRecord, Run
from shared.records import ExperimentSpec
from shared.rerun import RerunChanges, rerun_spec
from shared.retry import RetryPlan, start_retry
from shared.run_state import StepError
from shared.settings import Settings, get_settings
from shared.store import Store
from worker import tasks
from worker.celery_app import QUEUES as QUEUES  # re-exported for web's /healthz, which imports only this module
from worker.celery_app import app
from worker.doctor import worker_probe as worker_probe  # likewise

log = logging.getLogger(__name__)


def run_signature(exp_id: str, run: Run) -> Signature:
    """One run's chain. A fine-tuned run receives the training file id from `upload`; a zero-shot run needs none."""
    if run["kind"] == "zero-shot":
        return tasks.evaluate.si(run["base_model"], exp_id, run["id"])
    return chain(
        tasks.start_fine_tune.s(exp_id, run["id"]),
        tasks.poll_fine_tune.s(exp_id, run["id"]),
        tasks.evaluate.s(exp_id, run["id"]),
    )


def experiment_canvas(record: ExperimentRecord) -> Signature:
    exp_id = record["id"]
    summarize = tasks.summarize.si(exp_id).on_error(tasks.summarize.si(exp_id))
    runs = chord([run_signature(exp_id, run) for run in record["runs"]], summarize)
    if any(run["kind"] == "fine-tuned" for run in record["runs"]):
        return chain(tasks.prepare.si(exp_id), tasks.upload.si(exp_id), runs)
    return chain(tasks.prepare.si(exp_id), runs)


def sent_results(result: ResultBase) -> list[ResultBase]:
    """Every result of a sent canvas: the last task's, its parents', and each group member's."""
    found: list[ResultBase] = []
    waiting: list[ResultBase | None] = [result]
    while waiting:
        current = waiting.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        waiting.append(current.parent)
        waiting.extend(getattr(current, "results", None) or ())
    return found


def release_results(result: ResultBase) -> None:
    """Stop the result backend from listening for the results of a canvas this process sent, now.

    Progress is read from the store, never from Celery results, but the Redis result backend subscribes to the
    results of what this process sent and unsubscribes only when those objects are garbage-collected, which fails
    noisily when Redis is gone by then (the end of `demo`, of a test session). Release them while Redis answers.
    """
    backend = app.backend
    if not isinstance(backend, (AsyncBackendMixin, SyncBackendMixin)):
        return  # a backend without pending results (every one Celery ships has one of these two mixins)
    for sent in sent_results(result):
        backend.remove_pending_result(sent)


def submit_experiment(store: Store, spec: ExperimentSpec, rerun_of: str | None = None) -> str:
    """Create the experiment record (linked to the experiment it re-runs, if any), enqueue its canvas, and return
    the experiment id."""
    exp_id = store.create_experiment(spec, get_settings().openai_base_url)
    if rerun_of is not None:
        store.update_experiment(exp_id, rerun_of=rerun_of)
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        raise StepError(f"experiment {exp_id} vanished from the store right after it was created")
    release_results(experiment_canvas(record).apply_async())
    store.add_event(
        exp_id,
        None,
        f"queued: fine-tune {', '.join(spec.models) or 'nothing'}"
        + (f"; zero-shot {', '.join(spec.zero_shot)}" if spec.zero_shot else ""),
    )
    log.info("queued experiment %s", exp_id)
    return exp_id


def rerun_experiment(store: Store, exp_id: str, changes: RerunChanges, settings: Settings | None = None) -> str:
    """Start a new experiment with the dataset, split and spec of `exp_id` (and `changes`); returns its id. Raises
    StepError for an unknown experiment, RecordError for changes the caps of `settings` refuse."""
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        raise StepError(f"no experiment {exp_id}")
    return submit_experiment(store, rerun_spec(record, changes, settings), rerun_of=exp_id)


def retry_signature(plan: RetryPlan) -> Signature:
    """The retried run's chain, ending with the experiment's summarize: only the steps whose results are missing."""
    exp_id, run_id = plan.exp_id, plan.run_id
    steps: list[Signature] = [tasks.prepare.si(exp_id)] if plan.prepare else []
    if plan.model is not None:
        steps.append(tasks.evaluate.si(plan.model, exp_id, run_id))
    else:
        steps += [
            tasks.upload.si(exp_id),
            tasks.start_fine_tune.s(exp_id, run_id),
            tasks.poll_fine_tune.s(exp_id, run_id),
            tasks.evaluate.s(exp_id, run_id),
        ]
    # As in the first launch's chord: a step that fails again still closes the experiment through summarize.
    closing = tasks.summarize.si(exp_id)
    return chain(*(step.on_error(closing.clone()) for step in steps), tasks.summarize.si(exp_id))


def retry_run(store: Store, exp_id: str, run_id: str) -> RetryPlan:
    """Retry one failed or cancelled run in place (`shared.retry`) and enqueue what it needs; raises NotFound or
    RetryRefused."""
    plan = start_retry(store, exp_id, run_id)
    release_results(retry_signature(plan).apply_async())
    log.info("%s %s: %s", exp_id, run_id, plan.describe())
    return plan


@dataclass(frozen=True)
class Launch:
    """The pre-launch report, and the experiment's id when the report allowed the launch."""

    report: Report
    exp_id: str | None = None


def check_and_submit(store: Store, spec: ExperimentSpec, split: Split) -> Launch:
    """The pre-launch check, and the submission only when it passes (what the form's Launch and the API do).

    Raises RecordError when the store refuses the experiment (a cap of the settings)."""
    report = spec_report(spec, split)
    if not report.ok:
        return Launch(report)
    return Launch(report, submit_experiment(store, spec))


def cancel_experiment(store: Store, exp_id: str, client: openai.OpenAI | None = None) -> None:
    """Flag the experiment cancelled and cancel its provider jobs; each run's chain records its run as cancelled
    the next time it looks (polls and evaluations check the flag)."""
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        raise StepError(f"no experiment {exp_id}")
    if record["status"] in FINISHED_EXPERIMENT_STATUSES:
        return
    store.request_cancel(exp_id)
    store.update_experiment(exp_id, status="cancelled")
    store.add_event(exp_id, None, "cancel requested", level="warning")
    provider = client or make_client(get_settings())
    for run in record["runs"]:
        job_id = run.get("job_id")
        if job_id and run["status"] == "fine_tuning":
            cancel_job(provider, job_id)
