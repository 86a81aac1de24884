"""The evaluate step: ask a model about every test item, store each answer under its row, then score the run.

An evaluation runs in slices: one call starts questions for a time budget, keeps every request (with the SDK's
retries) inside a hard deadline, and reports its progress; the task continues in a fresh message until every item
has an answer. Only one task works on a run at a time (`shared.run_lease`).

Each answer is stored with the provider's `usage` for it, under its row: a resumed or repeated slice overwrites a
row rather than adding to it, so the run's `usage` (summed when the evaluation finishes) counts every answer once,
and its `cost_usd` is that usage (plus the trained tokens) at the dated price table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import openai
from openai.types.chat import ChatCompletionMessageParam

from shared import metrics, pricing
from shared.dataset_reading import Item
from shared.dataset_sampling import Split
from shared.prepare import load_split
from shared.prompts import PromptPreset, evaluation_messages
from shared.provider_errors import is_retryable, provider_error_message, retry_after_s
from shared.record_types import Metrics, Prediction, Usage
from shared.retries import SDK_MAX_RETRY_WAIT_S, fit_call
from shared.run_lease import RunLease
from shared.run_state import Busy, StepError, check_not_cancelled, experiment_record
from shared.store import Store


class DeadlineReached(Exception):
    """The slice must end: the deadline left no room for the request and its retries, or the provider asked for a
    wait longer than a call waits (`wait_s`). What is left goes to a fresh task (past the visibility timeout Redis
    would hand this one to a second worker while it still runs)."""

    def __init__(self, model: str, wait_s: float = 0.0) -> None:
        super().__init__(model)
        self.wait_s = wait_s


@dataclass(frozen=True)
class EvalProgress:
    done: int
    total: int
    answered: int = field(default=0, compare=False)
    """Answers this call saved (0 with items left: the slice made no progress)."""
    wait_s: float = field(default=0.0, compare=False)
    """How long the provider asked to be left alone before the next slice."""

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True)
class Answer:
    """A model's reply to one question, and the provider's token count for it (None when it reported none)."""

    text: str
    usage: Usage | None


@dataclass(frozen=True)
class CallLimits:
    """Each chat request's timeout and the SDK's retries for it (TQ_REQUEST_TIMEOUT_S, TQ_MAX_RETRIES)."""

    timeout_s: float
    max_retries: int


def _fitted(
    client: openai.OpenAI, limits: CallLimits | None, deadline: float | None, clock: Callable[[], float]
) -> tuple[openai.OpenAI, bool]:
    """The client to ask with, and whether its retries were cut so that the call ends by `deadline`."""
    if deadline is None:
        if limits is None:
            return client, False
        return client.with_options(timeout=limits.timeout_s, max_retries=limits.max_retries), False
    remaining = deadline - clock()
    if remaining <= 0:
        raise DeadlineReached("")
    wanted = limits or CallLimits(timeout_s=remaining, max_retries=client.max_retries)
    timeout, retries = fit_call(wanted.timeout_s, wanted.max_retries, remaining)
    return client.with_options(timeout=timeout, max_retries=retries), retries < wanted.max_retries


def ask(
    client: openai.OpenAI,
    model: str,
    messages: list[ChatCompletionMessageParam],
    preset: PromptPreset,
    limits: CallLimits | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Answer:
    """One chat completion: its text and `usage`. The SDK retries 429/5xx/timeouts with its backoff and the
    provider's Retry-After.

    With a `deadline` (a `clock()` value) the attempt timeout and the number of retries are cut so the call ends by
    it; `DeadlineReached` when nothing fits, when a call whose retries were cut fails on a retryable error, or when
    the provider asks for a longer wait than the SDK makes: the question goes to the next task."""
    try:
        caller, cut = _fitted(client, limits, deadline, clock)
        response = caller.chat.completions.create(
            model=model, messages=messages, temperature=preset.temperature, max_tokens=preset.max_tokens
        )
    except DeadlineReached:
        raise DeadlineReached(model) from None
    except openai.OpenAIError as exc:
        if not is_retryable(exc):
            raise
        asked = retry_after_s(exc)
        if (
            cut
            or (asked is not None and asked > SDK_MAX_RETRY_WAIT_S)
            or (deadline is not None and clock() >= deadline)
        ):
            raise DeadlineReached(model, wait_s=asked or 0.0) from exc
        raise
    usage = response.usage
    return Answer(
        response.choices[0].message.content or "",
        None
        if usage is None
        else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
    )


def evaluate(
    store: Store,
    client: openai.OpenAI,
    exp_id: str,
    run_id: str,
    model: str,
    concurrency: int,
    budget_s: float,
    limits: CallLimits | None = None,
    clock: Callable[[], float] = time.monotonic,
    deadline_s: float | None = None,
) -> EvalProgress:
    """Ask `model` about the test items that have no stored prediction yet, `concurrency` at a time.

    Each answer is stored under its row as soon as it arrives and progress n/N is updated, so a retried or resumed
    evaluation asks only what is missing. No new item starts after `budget_s`, and no request or retry goes past
    `deadline_s` (both from now): the caller continues in a fresh task, which keeps every task inside the broker's
    visibility timeout even when the provider is slow. The run's lease is held for `deadline_s` (else `budget_s`);
    `Busy` when another task holds it. When every item has an answer the run's metrics are computed from the stored
    predictions and the run succeeds.
    """
    check_not_cancelled(store, exp_id)
    lease = RunLease(store.client, exp_id, run_id, deadline_s if deadline_s is not None else budget_s)
    if not lease.acquire():
        raise Busy(f"the evaluation of {exp_id} {run_id}", lease.remaining_s())
    try:
        return _evaluate_slice(store, client, exp_id, run_id, model, concurrency, budget_s, limits, clock, deadline_s)
    finally:
        lease.release()


def _evaluate_slice(
    store: Store,
    client: openai.OpenAI,
    exp_id: str,
    run_id: str,
    model: str,
    concurrency: int,
    budget_s: float,
    limits: CallLimits | None,
    clock: Callable[[], float],
    deadline_s: float | None,
) -> EvalProgress:
    record = experiment_record(store, exp_id)
    split = load_split(store, exp_id)
    preset = PromptPreset.from_dict(record["prompt"])
    total = len(split.test)
    stored = store.predictions(exp_id, run_id)
    missing = [item for item in split.test if item.row not in stored]
    run = store.get_run(exp_id, run_id)
    if run.get("status") != "evaluating" or not stored:
        store.update_run(
            exp_id, run_id, status="evaluating", progress={"done": len(stored), "total": total}, evaluated_model=model
        )
        store.add_event(exp_id, run_id, f"evaluating {model} on {len(missing)} of {total} test items")
    lock = threading.Lock()
    done = [total - len(missing)]
    waits = [0.0]
    started = clock()
    stop_at = started + budget_s
    deadline = None if deadline_s is None else started + deadline_s
    stop = threading.Event()

    def answer(item: Item) -> None:
        if stop.is_set() or clock() > stop_at or store.cancel_requested(exp_id):
            stop.set()
            return
        try:
            reply = ask(client, model, evaluation_messages(preset, item.text), preset, limits, deadline, clock)
        except DeadlineReached as reached:
            stop.set()
            with lock:
                waits[0] = max(waits[0], reached.wait_s)
            return
        prediction = metrics.make_prediction(item.row, item.label, reply.text, split.labels)
        if reply.usage is not None:
            prediction["usage"] = reply.usage
        store.save_prediction(exp_id, run_id, prediction)
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
    progress = EvalProgress(len(predictions), total, answered=done[0] - (total - len(missing)), wait_s=waits[0])
    if progress.finished:
        finish_evaluation(store, exp_id, run_id, split, predictions)
    return progress


def total_usage(predictions: Iterable[Prediction]) -> Usage:
    """The provider's usage summed over answers (one per row, so each answer counts once)."""
    total: Usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for prediction in predictions:
        usage = prediction.get("usage")
        if usage is not None:
            total = {
                "prompt_tokens": total["prompt_tokens"] + usage["prompt_tokens"],
                "completion_tokens": total["completion_tokens"] + usage["completion_tokens"],
                "total_tokens": total["total_tokens"] + usage["total_tokens"],
            }
    return total


def finish_evaluation(
    store: Store, exp_id: str, run_id: str, split: Split, predictions: Mapping[int, Prediction]
) -> Metrics:
    """Score the run from its stored predictions, sum its usage and price it: the run succeeds."""
    ordered = [predictions[item.row] for item in split.test]
    scores = metrics.metrics_from_predictions(ordered, split.labels)
    run = store.get_run(exp_id, run_id)
    usage = total_usage(ordered)
    cost = pricing.actual_cost(run["base_model"], run["kind"], run.get("trained_tokens"), usage)
    unreported = sum(1 for prediction in ordered if "usage" not in prediction)
    note = (
        cost.note
        if not unreported or cost.usd == 0.0
        else (
            f"{cost.note}; {unreported} of {len(ordered)} answers came without usage, so their tokens are not counted"
        )
    )
    store.update_run(
        exp_id,
        run_id,
        status="succeeded",
        metrics=scores,
        usage=usage,
        cost_usd=cost.usd,
        cost_note=note,
        progress={"done": len(ordered), "total": len(ordered)},
    )
    store.add_event(
        exp_id,
        run_id,
        f"accuracy {scores['accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f}, "
        f"{scores['invalid']} invalid of {scores['n']}",
    )
    return scores
