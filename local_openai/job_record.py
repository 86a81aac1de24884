"""The `fine_tuning.job` object as this server stores and serves it: statuses, creation, errors and derived names.

A job is a plain JSON dict (persisted by `storage`, served without its `_private` fields by `storage.public`). OpenAI
reports the hyperparameters twice, in `method.supervised.hyperparameters` (the current shape) and at the top level
(deprecated, still returned); `hyperparameter_fields` writes both, so they never disagree.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_openai.storage import new_id

Job = dict[str, Any]
HyperparameterValues = Mapping[str, int | float | str]

VALIDATING_FILES = "validating_files"
QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
WAITING = (VALIDATING_FILES, QUEUED)  # not training yet: a cancel ends the job at once
ACTIVE = (*WAITING, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

ESTIMATE_EVERY_S = 1.0
"""The least time between two writes of a training job's `estimated_finish` (each write replaces the job's file)."""

OBJECT = "fine_tuning.job"
ORGANIZATION_ID = "org-local"
SUPERVISED = "supervised"


def hyperparameter_fields(values: HyperparameterValues) -> dict[str, object]:
    """The job fields that report hyperparameters: `method` (as OpenAI reports it) and the top-level copy."""
    return {
        "hyperparameters": dict(values),
        "method": {"type": SUPERVISED, SUPERVISED: {"hyperparameters": dict(values)}},
    }


def new_job(
    *,
    model: str,
    training_file: str,
    validation_file: str | None,
    hyperparameters: HyperparameterValues,
    seed: int | None,
    suffix: str | None,
    metadata: dict[str, str] | None,
) -> Job:
    """A job just created: `validating_files`, with the requested hyperparameters ("auto" until training starts)."""
    return {
        "id": new_id("ftjob"),
        "object": OBJECT,
        "created_at": int(time.time()),
        "error": None,
        "fine_tuned_model": None,
        "finished_at": None,
        "model": model,
        "organization_id": ORGANIZATION_ID,
        "result_files": [],
        "seed": seed if seed is not None else secrets.randbelow(2**31),
        "status": VALIDATING_FILES,
        "trained_tokens": None,
        "training_file": training_file,
        "validation_file": validation_file,
        "integrations": [],
        "metadata": metadata,
        **hyperparameter_fields(hyperparameters),
        "user_provided_suffix": suffix,
        "estimated_finish": None,
        "_requested_hyperparameters": dict(hyperparameters),
        "_created_ns": time.time_ns(),
    }


def job_error(code: str, message: str, param: str | None = None) -> dict[str, str | None]:
    """The `error` object of a failed job (OpenAI's `{code, message, param}`)."""
    return {"code": code, "message": message, "param": param}


def _id_part(job: Job) -> str:
    return str(job["id"]).split("-", 1)[1][:8]


def fine_tuned_model_name(job: Job) -> str:
    """`ft:{base}:local:{suffix}:{id-part}`, OpenAI's naming with `local` in the organisation's place."""
    return f"ft:{job['model']}:local:{job.get('user_provided_suffix') or ''}:{_id_part(job)}"


def checkpoint_model_name(job: Job, step: int) -> str:
    return f"{fine_tuned_model_name(job)}:ckpt-step-{step}"


def checkpoint_id(job: Job, step: int) -> str:
    return f"ftckpt-{_id_part(job)}{step:06d}"


@dataclass
class FinishEstimate:
    """A training job's `estimated_finish` (unix seconds), kept from its progress reports.

    The pace is measured from the first reported step on: the time before it (loading the base model) is not
    training, and counted per step it would push every estimate of a short job late. At the first report, with
    no pace yet, the time since training started per step done is all there is. `update` returns the estimate only
    when it is worth writing: it moved, and the last write is at least `every_s` old."""

    started_at: float
    """`time.time()` when the job started training."""
    every_s: float = ESTIMATE_EVERY_S
    _first: tuple[int, float] | None = None
    _written: tuple[float, int] | None = None

    def update(self, step: int, total_steps: int, now: float) -> int | None:
        """The estimate to write after step `step` of `total_steps` reported at `now`, or None (nothing new)."""
        if step <= 0 or total_steps <= 0:
            return None
        if self._first is None:
            self._first = (step, now)
        first_step, first_at = self._first
        per_step = (now - first_at) / (step - first_step) if step > first_step else (now - self.started_at) / step
        estimate = round(now + per_step * max(0, total_steps - step))
        if self._written is not None:
            written_at, written = self._written
            if estimate == written or now - written_at < self.every_s:
                return None
        self._written = (now, estimate)
        return estimate
