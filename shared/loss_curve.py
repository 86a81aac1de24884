"""A fine-tuning job's loss curve: read from the provider in OpenAI's shapes and kept on the run while it trains.

Three places hold the losses, and each is read as OpenAI writes it (local_openai writes the same):
- job events of `type: "metrics"`, whose `data` has `step`, `train_loss` and, at the steps the validation file is
  scored, `valid_loss`; listed newest first, so each poll reads only back to the last step it already has;
- checkpoints, whose `metrics` have `step`, `train_loss`, `valid_loss` / `full_valid_loss`;
- the job's result file (`step_metrics.csv`), with columns `step,train_loss,...,valid_loss,...`.
Events feed the curve while the job trains; once it succeeded the checkpoints and the result file fill in any step
the events did not hold. Points are merged by step, so reading a place twice never duplicates one.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import openai
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from shared.provider_errors import provider_error_message
from shared.record_types import LossPoint, RunState
from shared.store import Store

log = logging.getLogger(__name__)

VALID_LOSS_KEYS = ("valid_loss", "full_valid_loss")
"""OpenAI scores a batch of the validation file at most steps (`valid_loss`) and all of it at the end of each epoch
(`full_valid_loss`); the curve takes the first one present."""
EVENTS_PAGE = 100


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def loss_point(values: Mapping[str, object]) -> LossPoint | None:
    """The point a metrics mapping describes; None without a step or without any loss."""
    step = _number(values.get("step"))
    train_loss = _number(values.get("train_loss"))
    valid_loss = next((loss for key in VALID_LOSS_KEYS if (loss := _number(values.get(key))) is not None), None)
    if step is None or step < 0 or (train_loss is None and valid_loss is None):
        return None
    return {"step": int(step), "train_loss": train_loss, "valid_loss": valid_loss}


def event_points(events: Iterable[object], after_step: int = -1) -> list[LossPoint]:
    """The points of metrics events listed newest first, reading no further than the first one at or before
    `after_step` (the curve already has it and everything older)."""
    points: list[LossPoint] = []
    for event in events:
        data = getattr(event, "data", None)
        if getattr(event, "type", None) != "metrics" or not isinstance(data, Mapping):
            continue
        point = loss_point(data)
        if point is None:
            continue
        if point["step"] <= after_step:
            break
        points.append(point)
    return points


def checkpoint_points(checkpoints: Iterable[FineTuningJobCheckpoint]) -> list[LossPoint]:
    points = []
    for checkpoint in checkpoints:
        metrics = checkpoint.metrics.model_dump(exclude_none=True)
        point = loss_point({"step": checkpoint.step_number, **metrics})
        if point is not None:
            points.append(point)
    return points


def csv_points(data: bytes) -> list[LossPoint]:
    """The points of a result file (`step_metrics.csv`); rows without a step or a loss are skipped."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig", errors="replace")))
    return [point for row in reader if (point := loss_point(row)) is not None]


def merge_points(curve: Sequence[LossPoint], points: Iterable[LossPoint]) -> list[LossPoint]:
    """`curve` with `points` added, one point per step in step order; a known loss is kept, a missing one filled."""
    by_step: dict[int, LossPoint] = {point["step"]: LossPoint(**point) for point in curve}
    for point in points:
        known = by_step.setdefault(point["step"], LossPoint(**point))
        if known["train_loss"] is None:
            known["train_loss"] = point["train_loss"]
        if known["valid_loss"] is None:
            known["valid_loss"] = point["valid_loss"]
    return [by_step[step] for step in sorted(by_step)]


def read_points(client: openai.OpenAI, job: FineTuningJob, after_step: int) -> list[LossPoint]:
    """What the provider reports beyond `after_step`; for a succeeded job also its checkpoints and result file."""
    points = event_points(client.fine_tuning.jobs.list_events(job.id, limit=EVENTS_PAGE), after_step)
    if job.status == "succeeded":
        points += checkpoint_points(client.fine_tuning.jobs.checkpoints.list(job.id, limit=EVENTS_PAGE))
        for file_id in job.result_files or []:
            points += csv_points(client.files.content(file_id).content)
    return points


def refresh_loss_curve(
    store: Store, client: openai.OpenAI, exp_id: str, run: RunState, job: FineTuningJob
) -> list[LossPoint]:
    """Add what is new to the `loss_curve` of `run` (as just read from the store) and return it. A provider error
    leaves the curve as it was (the next poll reads again): a missing chart must never fail a run."""
    curve: list[LossPoint] = list(run.get("loss_curve") or [])
    try:
        points = read_points(client, job, curve[-1]["step"] if curve else -1)
    except openai.OpenAIError as exc:
        log.warning("could not read the loss curve of job %s: %s", job.id, provider_error_message(exc))
        return curve
    merged = merge_points(curve, points)
    if merged != curve:
        store.update_run(exp_id, run["id"], loss_curve=merged)
    return merged
