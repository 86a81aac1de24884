"""The pipeline steps the Celery tasks wrap: prepare, upload, start the fine-tune, poll it, evaluate, summarize.

Each step takes a `Store`, an `openai.OpenAI` client where it talks to the provider, and ids; it reads fresh state
from the store and records what it did there (status, events, results), so it can run again after a crash or a
retry and do only what is missing. Steps never sleep waiting on the provider: `poll_fine_tune` returns and the task
schedules the next poll. Errors:

- `StepError`: the run (or the experiment) cannot go on; the message says what happened and is shown to users.
- `RunCancelled`: the user cancelled the experiment.
- anything from `TRANSIENT_ERRORS`: worth trying again later (the task retries with backoff).
"""
from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping

import openai
import redis

from shared import metrics, pricing, tokens
from shared.dataset import Item, SamplingSpec, Split, class_counts, items_from_rows, read_table, split_items
from shared.jsonl import chat_jsonl, validate_chat_jsonl
from shared.prompts import PromptPreset, evaluation_messages, training_messages
from shared.records import final_status, summarize_runs
from shared.store import NotFound, Store

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,  # includes APITimeoutError
    openai.RateLimitError,
    openai.InternalServerError,
    redis.ConnectionError,
    redis.TimeoutError,
)
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED = "succeeded", "failed", "cancelled"
TERMINAL_RUN_STATUSES = {"succeeded", "failed", "cancelled"}
METADATA_EXPERIMENT, METADATA_RUN = "tunequeue_experiment", "tunequeue_run"


class StepError(Exception):
    """The step cannot succeed; the message is shown to the user as the run's (or experiment's) error."""


class RunCancelled(Exception):
    """The experiment was cancelled; the run stops where it is."""


def backoff_s(attempt: int, first_s: float, cap_s: float, jitter: float = 0.1) -> float:
    """Exponential backoff: first_s * 2**attempt, at most cap_s, with a little jitter so retries spread out."""
    delay = min(cap_s, first_s * (2 ** attempt))
    return max(0.0, delay * (1 + random.uniform(-jitter, jitter)))


def retry_after_s(exc: BaseException) -> float | None:
    """The wait the provider asked for (`Retry-After` in seconds or HTTP date, or `retry-after-ms`), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS
    return isinstance(exc, TRANSIENT_ERRORS)


def provider_error_message(exc: BaseException) -> str:
    """A one-line message for a provider error: status and the provider's own message, never headers or keys."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("message") or (body.get("error") or {}).get("message") if body else None
        return f"the provider answered {exc.status_code}: {detail or exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return "the provider did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return f"could not reach the provider ({exc.__cause__ or exc})"
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------------------------------- state helpers

def check_not_cancelled(store: Store, exp_id: str) -> None:
    if store.cancel_requested(exp_id):
        raise RunCancelled(exp_id)


def run_finished(store: Store, exp_id: str, run_id: str) -> bool:
    return store.get_run(exp_id, run_id).get("status") in TERMINAL_RUN_STATUSES


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
    for run in store.get_experiment(exp_id, with_predictions=False)["runs"]:
        if run["status"] not in TERMINAL_RUN_STATUSES:
            store.update_run(exp_id, run["id"], status="failed", error=f"not started: {message}")


def cancel_unfinished_runs(store: Store, exp_id: str) -> None:
    """For a cancel seen before the runs' chains started (they never will)."""
    for run in store.get_experiment(exp_id, with_predictions=False)["runs"]:
        cancel_run(store, exp_id, run["id"])


def experiment(store: Store, exp_id: str) -> dict:
    """The record without predictions (steps read those per run, from the prediction hash)."""
    record = store.get_experiment(exp_id, with_predictions=False)
    if record is None:
        raise StepError(f"experiment {exp_id} is not in the store (was Redis flushed?)")
    return record


# ---------------------------------------------------------------------------------------------------- prepare/upload

def split_to_json(split: Split) -> dict:
    def items(chosen: list[Item]) -> list[dict]:
        return [{"row": item.row, "text": item.text, "label": item.label} for item in chosen]

    return {"train": items(split.train), "test": items(split.test), "labels": list(split.labels)}


def split_from_json(data: Mapping) -> Split:
    return Split(train=[Item(**item) for item in data["train"]], test=[Item(**item) for item in data["test"]],
                 labels=list(data["labels"]))


def load_split(store: Store, exp_id: str) -> Split:
    data = store.get_items(exp_id)
    if data is None:
        raise StepError(f"experiment {exp_id} has no prepared items; its prepare step never finished")
    return split_from_json(data)


def prepare(store: Store, exp_id: str) -> Split:
    """Read the stored CSV, draw the train/test split, and record it (rows, per-class counts, labels)."""
    check_not_cancelled(store, exp_id)
    record = experiment(store, exp_id)
    store.update_experiment(exp_id, status="preparing")
    dataset = dict(record["dataset"])
    try:
        data = store.get_dataset(dataset["sha256"])
    except NotFound as exc:
        raise StepError(str(exc)) from exc
    header, rows = read_table(data)
    items, dropped = items_from_rows(header, rows, dataset["columns"]["text"], dataset["columns"]["label"])
    split = split_items(items, SamplingSpec.from_dict(record["sampling"]))
    store.save_items(exp_id, split_to_json(split))
    dataset.update(n_rows=len(rows), n_items=len(items), dropped_rows=len(dropped),
                   class_counts=class_counts(items))
    store.update_experiment(exp_id, status="running", dataset=dataset, split=split.to_dict())
    store.add_event(exp_id, None, f"prepared {len(split.train)} training and {len(split.test)} test items "
                                  f"({', '.join(split.labels)}) from {len(rows)} rows")
    return split


def training_file(split: Split, preset: PromptPreset) -> bytes:
    return chat_jsonl(training_messages(preset, item.text, item.label) for item in split.train)


def upload(store: Store, client: openai.OpenAI, exp_id: str) -> str:
    """Write, validate and upload the training JSONL; returns the file id (the stored one if already uploaded)."""
    check_not_cancelled(store, exp_id)
    record = experiment(store, exp_id)
    existing = (record.get("training_file") or {}).get("file_id")
    if existing:
        return existing
    split = load_split(store, exp_id)
    preset = PromptPreset.from_dict(record["prompt"])
    data = training_file(split, preset)
    report = validate_chat_jsonl(data)
    if not report.ok:
        raise StepError(f"the training file is invalid: {report.error_message()}")
    examples = [training_messages(preset, item.text, item.label) for item in split.train]
    models = [run["base_model"] for run in record["runs"] if run["kind"] == "fine-tuned"] or ["unknown"]
    count = tokens.count_examples(examples, models[0])
    uploaded = client.files.create(file=(f"{exp_id}-train.jsonl", data, "application/jsonl"), purpose="fine-tune")
    store.update_experiment(exp_id, training_file={"file_id": uploaded.id, "n_examples": report.n_examples,
                                                   "bytes": len(data), **count.to_dict()})
    store.add_event(exp_id, None, f"uploaded the training file {uploaded.id} ({report.n_examples} examples, "
                                  f"{count.tokens} tokens)")
    return uploaded.id


# ---------------------------------------------------------------------------------------------------- fine-tuning

def job_metadata(exp_id: str, run_id: str) -> dict[str, str]:
    return {METADATA_EXPERIMENT: exp_id, METADATA_RUN: run_id}


def find_job(client: openai.OpenAI, exp_id: str, run_id: str):
    """The job this run already created, found by its metadata (filtered by the server and checked here)."""
    wanted = job_metadata(exp_id, run_id)
    for job in client.fine_tuning.jobs.list(metadata=wanted, limit=100):
        if all((job.metadata or {}).get(key) == value for key, value in wanted.items()):
            return job
    return None


def _hyperparameters(record: Mapping) -> dict:
    chosen = record.get("hyperparameters") or {}
    return {name: chosen.get(name, "auto") for name in ("n_epochs", "batch_size", "learning_rate_multiplier")}


def start_fine_tune(store: Store, client: openai.OpenAI, exp_id: str, run_id: str, file_id: str,
                    deadline_s: float, clock: Callable[[], float] = time.time) -> str:
    """Create the run's fine-tuning job exactly once and record its id before anything polls it.

    Idempotent: the stored job id wins; otherwise the provider is asked for a job carrying this run's metadata
    (a create whose response was lost to a timeout still made one); only then is a job created. The create goes
    out with the SDK's own retries off, because a blind resend after a timeout is how duplicate jobs happen.
    """
    check_not_cancelled(store, exp_id)
    run = store.get_run(exp_id, run_id)
    if run.get("job_id"):
        return run["job_id"]
    job = find_job(client, exp_id, run_id)
    if job is not None:
        store.add_event(exp_id, run_id, f"found the fine-tuning job {job.id} created by an earlier attempt")
    else:
        record = experiment(store, exp_id)
        hyper = record.get("hyperparameters") or {}
        options = {"suffix": hyper["suffix"]} if hyper.get("suffix") else {}
        if hyper.get("seed") is not None:
            options["seed"] = hyper["seed"]
        try:
            job = client.with_options(max_retries=0).fine_tuning.jobs.create(
                model=run["base_model"], training_file=file_id, hyperparameters=_hyperparameters(record),
                metadata=job_metadata(exp_id, run_id), **options)
        except openai.APIStatusError as exc:
            if is_retryable(exc):
                raise
            raise StepError(f"could not start fine-tuning {run['base_model']}: {provider_error_message(exc)}") \
                from exc
        store.add_event(exp_id, run_id, f"created the fine-tuning job {job.id} for {run['base_model']}")
    store.update_run(exp_id, run_id, status="fine_tuning", file_id=file_id, job_id=job.id, job_status=job.status,
                     deadline_at=clock() + deadline_s)
    return job.id


@dataclass(frozen=True)
class PollResult:
    finished: bool
    model: str | None = None
    job_status: str | None = None


TRAINING_STARTED_EVENT = "Fine-tuning job started"


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


def poll_fine_tune(store: Store, client: openai.OpenAI, exp_id: str, run_id: str, job_id: str,
                   clock: Callable[[], float] = time.time) -> PollResult:
    """Look at the job once. Finished with a model id when it succeeded; raises when it failed, was cancelled, or
    ran past the run's deadline (then it is cancelled at the provider); otherwise not finished yet."""
    run = store.get_run(exp_id, run_id)
    if store.cancel_requested(exp_id):
        _cancel_job(client, job_id)
        raise RunCancelled(exp_id)
    deadline = run.get("deadline_at")
    try:
        job = client.fine_tuning.jobs.retrieve(job_id)
    except TRANSIENT_ERRORS as exc:
        if deadline is not None and clock() > deadline:
            raise StepError(f"fine-tuning job {job_id} could not be checked before its deadline: "
                            f"{provider_error_message(exc)}") from exc
        raise
    if job.status != run.get("job_status"):
        store.add_event(exp_id, run_id, f"job {job_id}: {job.status}")
    if job.status in (JOB_FAILED, JOB_CANCELLED):
        store.update_run(exp_id, run_id, job_status=job.status)  # recorded before raising ends the run
    if job.status == JOB_SUCCEEDED:
        trained = job.trained_tokens or 0
        started = training_started_at(client, job_id) or run.get("training_started_at") or job.created_at
        seconds = round(max(0.0, job.finished_at - started), 1) if job.finished_at and started else None
        store.update_run(exp_id, run_id, status="evaluating", job_status=job.status,
                         fine_tuned_model=job.fine_tuned_model, trained_tokens=trained, training_seconds=seconds,
                         cost_estimate_usd=pricing.training_cost(run["base_model"], trained))
        return PollResult(True, job.fine_tuned_model, job.status)
    if job.status == JOB_FAILED:
        reason = job.error.message if job.error and job.error.message else "no reason given"
        raise StepError(f"fine-tuning job {job_id} failed: {reason}")
    if job.status == JOB_CANCELLED:
        raise RunCancelled(exp_id) if store.cancel_requested(exp_id) else \
            StepError(f"fine-tuning job {job_id} was cancelled at the provider")
    if deadline is not None and clock() > deadline:
        _cancel_job(client, job_id)
        raise StepError(f"fine-tuning job {job_id} was still {job.status} at its deadline; it was cancelled "
                        f"(raise TQ_FINE_TUNE_DEADLINE_S for longer jobs)")
    if job.status != run.get("job_status"):
        started = {"training_started_at": clock()} if job.status == "running" else {}
        store.update_run(exp_id, run_id, job_status=job.status, **started)
    return PollResult(False, None, job.status)


def _cancel_job(client: openai.OpenAI, job_id: str) -> None:
    try:
        client.fine_tuning.jobs.cancel(job_id)
    except openai.OpenAIError as exc:
        log.warning("could not cancel job %s: %s", job_id, provider_error_message(exc))


# ---------------------------------------------------------------------------------------------------- evaluation

class DeadlineReached(Exception):
    """The evaluate task's time is up: no request or retry may go past its deadline, so what is left is handed to a
    fresh task (past the visibility timeout, Redis would hand this one to a second worker while it still runs)."""


@dataclass(frozen=True)
class EvalProgress:
    done: int
    total: int
    answered: int = field(default=0, compare=False)
    """Answers this call saved (0 with items left: the slice made no progress)."""

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True)
class RequestPolicy:
    """How one chat request is retried: attempts after the first, backoff base and cap, the sleep to use, and
    each attempt's timeout (None: the client's)."""

    max_retries: int = 5
    first_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    timeout_s: float | None = None


def ask(client: openai.OpenAI, model: str, messages: list[dict], preset: PromptPreset,
        policy: RequestPolicy, deadline: float | None = None, clock: Callable[[], float] = time.monotonic) -> str:
    """One chat completion, retried on 429/5xx/timeouts with backoff (the provider's Retry-After wins).

    With a `deadline` (a `clock()` value) no attempt starts after it, each attempt's timeout ends at it at the
    latest, and no retry waits past it: `DeadlineReached` instead, and the question goes to the next task."""
    attempt = 0
    while True:
        timeout = policy.timeout_s
        if deadline is not None:
            remaining = deadline - clock()
            if remaining <= 0:
                raise DeadlineReached(model)
            timeout = remaining if timeout is None else min(timeout, remaining)
        try:
            response = client.chat.completions.create(
                model=model, messages=messages, temperature=preset.temperature, max_tokens=preset.max_tokens,
                **({} if timeout is None else {"timeout": timeout}))
            return response.choices[0].message.content or ""
        except openai.OpenAIError as exc:
            if deadline is not None and clock() >= deadline:
                raise DeadlineReached(model) from exc
            if not is_retryable(exc) or attempt >= policy.max_retries:
                raise
            wait = retry_after_s(exc)
            if wait is None:
                wait = backoff_s(attempt, policy.first_backoff_s, policy.max_backoff_s)
            wait = min(wait, policy.max_backoff_s)
            if deadline is not None and clock() + wait >= deadline:
                raise DeadlineReached(model) from exc
            log.warning("chat completion for %s failed (%s); retry %d/%d in %.1f s", model,
                        provider_error_message(exc), attempt + 1, policy.max_retries, wait)
            policy.sleep(wait)
            attempt += 1


def evaluate(store: Store, client: openai.OpenAI, exp_id: str, run_id: str, model: str, concurrency: int,
             budget_s: float, policy: RequestPolicy = RequestPolicy(),
             clock: Callable[[], float] = time.monotonic, deadline_s: float | None = None) -> EvalProgress:
    """Ask `model` about the test items that have no stored prediction yet, `concurrency` at a time.

    Each answer is stored under its row as soon as it arrives and progress n/N is updated, so a retried or resumed
    evaluation asks only what is missing. No new item starts after `budget_s`, and no request or retry goes past
    `deadline_s` (both from now): the caller continues in a fresh task, which keeps every task inside the broker's
    visibility timeout even when the provider is slow. When every item has an answer the
    run's metrics are computed from the stored predictions and the run succeeds.
    """
    check_not_cancelled(store, exp_id)
    record = experiment(store, exp_id)
    split = load_split(store, exp_id)
    preset = PromptPreset.from_dict(record["prompt"])
    total = len(split.test)
    stored = store.predictions(exp_id, run_id)
    missing = [item for item in split.test if item.row not in stored]
    run = store.get_run(exp_id, run_id)
    if run.get("status") != "evaluating" or not stored:
        store.update_run(exp_id, run_id, status="evaluating", progress={"done": len(stored), "total": total},
                         evaluated_model=model)
        store.add_event(exp_id, run_id, f"evaluating {model} on {len(missing)} of {total} test items")
    lock = threading.Lock()
    done = [total - len(missing)]
    started = clock()
    stop_at = started + budget_s
    deadline = None if deadline_s is None else started + deadline_s
    stop = threading.Event()

    def answer(item: Item) -> None:
        if stop.is_set() or clock() > stop_at or store.cancel_requested(exp_id):
            stop.set()
            return
        try:
            output = ask(client, model, evaluation_messages(preset, item.text), preset, policy, deadline, clock)
        except DeadlineReached:
            stop.set()
            return
        store.save_prediction(exp_id, run_id, metrics.make_prediction(item.row, item.label, output, split.labels))
        with lock:
            done[0] += 1
            store.update_run(exp_id, run_id, progress={"done": done[0], "total": total})

    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"eval-{run_id}") as pool:
            for future in [pool.submit(answer, item) for item in missing]:
                future.result()
    except openai.APIStatusError as exc:
        if is_retryable(exc):
            raise
        raise StepError(f"{model} could not answer: {provider_error_message(exc)}") from exc
    check_not_cancelled(store, exp_id)
    predictions = store.predictions(exp_id, run_id)
    progress = EvalProgress(len(predictions), total, answered=done[0] - (total - len(missing)))
    if progress.finished:
        finish_evaluation(store, exp_id, run_id, split, predictions)
    return progress


def finish_evaluation(store: Store, exp_id: str, run_id: str, split: Split, predictions: Mapping[int, dict]) -> dict:
    ordered = [predictions[item.row] for item in split.test]
    scores = metrics.metrics_from_predictions(ordered, split.labels)
    store.update_run(exp_id, run_id, status="succeeded", metrics=scores,
                     progress={"done": len(ordered), "total": len(ordered)})
    store.add_event(exp_id, run_id, f"accuracy {scores['accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f}, "
                                    f"{scores['invalid']} invalid of {scores['n']}")
    return scores


# ---------------------------------------------------------------------------------------------------- summary

def summarize(store: Store, exp_id: str) -> dict:
    """Close the experiment with its comparison table; a failed run is listed with its error, not hidden."""
    record = experiment(store, exp_id)
    result = summarize_runs(record["runs"])
    status = "cancelled" if store.cancel_requested(exp_id) else final_status(run["status"] for run in record["runs"])
    failed = [run for run in record["runs"] if run["status"] == "failed"]
    error = "; ".join(f"{run['id']} ({run['base_model']}): {run.get('error')}" for run in failed) or None
    store.update_experiment(exp_id, status=status, error=error, summary=result)
    best = f"; best run {result['best_run']}" if result["best_run"] else ""
    store.add_event(exp_id, None, f"experiment {status}{best}", level="info" if status == "succeeded" else "warning")
    return result
