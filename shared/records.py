"""The experiment record (schema_version 1, see docs/ARCHITECTURE.md): building it, and deriving its summary.

A record is plain JSON-ready dicts typed in `shared.record_types`; `shared.store` persists it. API keys never enter a
record: the provider section holds only the base URL.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, cast, overload

from shared import significance
from shared.dataset_reading import DatasetError
from shared.dataset_sampling import SamplingSpec
from shared.prompts import PRESETS, PromptPreset
from shared.record_types import (
    RUN_KINDS,
    SCHEMA_VERSION,
    Auto,
    ExperimentRecord,
    ExperimentStatus,
    Hyperparameters,
    Prediction,
    Run,
    RunKind,
    RunState,
    Sampling,
    Summary,
    SummaryRow,
)
from shared.settings import Settings, get_settings

FINISHED_RUN_STATUSES = ("succeeded", "failed", "cancelled")
"""Statuses after which a run never changes; an experiment finishes with these or `partial`
(`shared.record_types.FINISHED_EXPERIMENT_STATUSES`)."""
DEFAULT_HYPERPARAMETERS: Final[Hyperparameters] = {
    "n_epochs": "auto",
    "batch_size": "auto",
    "learning_rate_multiplier": "auto",
    "suffix": "tq",
    "seed": None,
}
HyperparameterKey = Literal["n_epochs", "batch_size", "learning_rate_multiplier", "suffix", "seed"]
HyperparameterField = Literal["n_epochs", "batch_size", "learning_rate_multiplier", "suffix", "hp_seed"]
HYPERPARAMETER_FIELDS: Final[dict[HyperparameterKey, HyperparameterField]] = {
    "n_epochs": "n_epochs",
    "batch_size": "batch_size",
    "learning_rate_multiplier": "learning_rate_multiplier",
    "suffix": "suffix",
    "seed": "hp_seed",
}
"""The record's hyperparameter keys and the form field that carries each (the API's JSON is flattened into these
fields); the seed's field is `hp_seed`, apart from the sampling seed."""
MAX_SUFFIX_LENGTH = 64
MAX_EPOCHS = 50


class RecordError(ValueError):
    """An experiment request is invalid; the message says how to fix it, `field` names the form/API field at fault
    (None when no single field is)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


EXPERIMENT_ID = re.compile(r"exp_[0-9a-f]{12}")
DATASET_HASH = re.compile(r"[0-9a-f]{64}")
EXPERIMENT_ID_EXAMPLE = "exp_0123456789ab"
RUN_ID = re.compile(r"run-[1-9][0-9]{0,3}")


def new_experiment_id() -> str:
    """`exp_` and 12 lowercase hex digits: the only shape `is_experiment_id` accepts."""
    return f"exp_{secrets.token_hex(6)}"


def is_experiment_id(value: object) -> bool:
    """The one check of an experiment id from outside (URL, CLI argument, store call) before it names a Redis key."""
    return isinstance(value, str) and EXPERIMENT_ID.fullmatch(value) is not None


def is_dataset_hash(value: object) -> bool:
    """A dataset is named by the lowercase hex sha256 of its bytes."""
    return isinstance(value, str) and DATASET_HASH.fullmatch(value) is not None


def is_run_id(value: object) -> bool:
    """Runs are named `run-1`, `run-2`, ... in the order the experiment lists them (`new_experiment_record`)."""
    return isinstance(value, str) and RUN_ID.fullmatch(value) is not None


def not_a_run_id(value: object) -> str:
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
    return f"{shown!r} is not a run id; runs are named run-1, run-2, ... as the experiment record lists them"


def not_an_experiment_id(value: object) -> str:
    """The message for a malformed experiment id (web 404, CLI error, store NotFound)."""
    return f"{value!r} is not an experiment id; ids look like {EXPERIMENT_ID_EXAMPLE} (exp_ and 12 hex digits)"


def not_a_dataset_hash(value: object) -> str:
    shown = value if not isinstance(value, str) or len(value) <= 80 else value[:80] + "..."
    return (
        f"{shown!r} is not a dataset hash; datasets are named by the 64 lowercase hex digits of their sha256, "
        f"as returned by POST /api/datasets"
    )


@overload
def _auto_or_number(
    name: str, value: object, kind: type[int], minimum: float, maximum: float | None = None
) -> int | Auto: ...


@overload
def _auto_or_number(
    name: str, value: object, kind: type[float], minimum: float, maximum: float | None = None
) -> float | Auto: ...


def _auto_or_number(
    name: str, value: object, kind: type[int] | type[float], minimum: float, maximum: float | None = None
) -> float | Auto:
    if value == "auto" or value is None:
        return "auto"
    if not isinstance(value, (str, bytes, int, float)):
        raise RecordError(f"hyperparameter {name}={value!r} must be 'auto' or a number")
    try:
        as_float = float(value)
    except ValueError:
        raise RecordError(f"hyperparameter {name}={value!r} must be 'auto' or a number") from None
    if not math.isfinite(as_float):
        raise RecordError(
            f"hyperparameter {name}={value!r} is not a finite number; use 'auto' or a number such as "
            f"{1 if kind is int else 0.5}"
        )
    try:
        number = kind(value)
    except ValueError:
        raise RecordError(f"hyperparameter {name}={value!r} must be 'auto' or a number") from None
    if kind is int and number != as_float:
        raise RecordError(f"hyperparameter {name}={value!r} must be a whole number or 'auto'")
    if number < minimum or (maximum is not None and number > maximum):
        limit = f"from {minimum:g} to {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise RecordError(f"hyperparameter {name}={value!r} is out of range; use 'auto' or a value {limit}")
    return number


def normalize_hyperparameters(values: Mapping[str, object] | None) -> Hyperparameters:
    """Defaults filled in and each value checked ('auto' or a number in range, a short suffix, an int seed)."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(DEFAULT_HYPERPARAMETERS))
    if unknown:
        raise RecordError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_HYPERPARAMETERS)}"
        )
    merged: dict[str, object] = {
        **DEFAULT_HYPERPARAMETERS,
        **{k: v for k, v in values.items() if v is not None and v != ""},
    }
    suffix = str(merged["suffix"])
    n_epochs = _auto_or_number("n_epochs", merged["n_epochs"], int, 1, MAX_EPOCHS)
    batch_size = _auto_or_number("batch_size", merged["batch_size"], int, 1)
    learning_rate_multiplier = _auto_or_number(
        "learning_rate_multiplier", merged["learning_rate_multiplier"], float, 1e-6, 100
    )
    if len(suffix) > MAX_SUFFIX_LENGTH or not all(c.isalnum() or c in "-_" for c in suffix):
        raise RecordError(f"suffix {suffix!r} must be at most {MAX_SUFFIX_LENGTH} letters, digits, '-' or '_'")
    seed = None if merged["seed"] is None else _auto_or_number("seed", merged["seed"], int, 0)
    return {
        "n_epochs": n_epochs,
        "batch_size": batch_size,
        "learning_rate_multiplier": learning_rate_multiplier,
        "suffix": suffix,
        "seed": None if seed == "auto" else seed,
    }


def check_models(models: Sequence[str], zero_shot: Sequence[str], settings: Settings) -> None:
    """At most TQ_MAX_MODELS runs: each is a fine-tuning job and/or a full evaluation on the workers."""
    total = len(models) + len(zero_shot)
    if total > settings.max_models:
        raise RecordError(
            f"{total} models named ({len(models)} to fine-tune, {len(zero_shot)} zero-shot); an "
            f"experiment runs at most {settings.max_models} (TQ_MAX_MODELS). Name fewer models, or "
            f"split them over several experiments.",
            "models",
        )


def check_classes(labels: Iterable[str], settings: Settings) -> None:
    n_labels = len(set(labels))
    if n_labels > settings.max_classes:
        raise RecordError(
            f"The label column has {n_labels} classes; an experiment takes at most "
            f"{settings.max_classes} (TQ_MAX_CLASSES). Choose the column that holds the label, or "
            f"merge rare labels before uploading.",
            "label_column",
        )


def check_prompt(prompt: PromptPreset, settings: Settings) -> None:
    """Every prompt part at most TQ_MAX_PROMPT_CHARS: each is sent with every example and every test item."""
    parts = (
        ("system_prompt", "system prompt", prompt.system_prompt),
        ("system_prompt", "evaluation system prompt", prompt.eval_system_prompt),
        ("user_template", "user template", prompt.user_template),
        ("user_template", "training template", prompt.training_template),
    )
    for field_name, what, text in parts:
        if text is not None and len(text) > settings.max_prompt_chars:
            raise RecordError(
                f"The {what} has {len(text)} characters; at most {settings.max_prompt_chars} are "
                f"accepted (TQ_MAX_PROMPT_CHARS), since it is sent with every training example and "
                f"every test item. Shorten it.",
                field_name,
            )


def check_columns(header: Sequence[str], settings: Settings) -> None:
    """An uploaded table has at most TQ_MAX_COLUMNS columns (the form previews and offers each one); raises
    DatasetError."""
    if len(header) > settings.max_columns:
        raise DatasetError(
            f"The CSV has {len(header)} columns; at most {settings.max_columns} are accepted "
            f"(TQ_MAX_COLUMNS). Keep only the text and label columns (and a few others), then upload "
            f"it again."
        )


def check_caps(spec: ExperimentSpec, settings: Settings | None = None) -> None:
    """Raise RecordError (naming the field) when `spec` asks for more than the TQ_MAX_* settings allow."""
    settings = settings or get_settings()
    check_models(spec.models, spec.zero_shot, settings)
    check_classes([*spec.sampling.train_counts, *spec.sampling.test_counts], settings)
    if spec.prompt is not None:
        check_prompt(spec.prompt, settings)


@dataclass
class ExperimentSpec:
    """Everything needed to run an experiment; `models` are fine-tuned, `zero_shot` models are only evaluated."""

    dataset_sha256: str
    dataset_name: str
    dataset_path: str | None
    text_column: str
    label_column: str
    models: list[str]
    zero_shot: list[str] = field(default_factory=list)
    sampling: SamplingSpec = field(default_factory=SamplingSpec)
    prompt: PromptPreset | None = None
    hyperparameters: Mapping[str, object] = field(default_factory=dict)
    """As given; normalised on creation to the record's `Hyperparameters`."""
    settings: InitVar[Settings | None] = None
    """Whose caps apply (default: the process settings); not stored."""

    def __post_init__(self, settings: Settings | None) -> None:
        if not self.models and not self.zero_shot:
            raise RecordError("no model given: name at least one base model to fine-tune or evaluate zero-shot")
        blank = [m for m in [*self.models, *self.zero_shot] if not str(m).strip()]
        if blank:
            raise RecordError("a model name is blank; remove it or name the model")
        if self.prompt is None:
            self.prompt = PRESETS["reference"]
        self.hyperparameters = normalize_hyperparameters(self.hyperparameters)
        check_caps(self, settings)


def new_run_record(run_id: str, base_model: str, kind: RunKind) -> Run:
    if kind not in RUN_KINDS:
        raise RecordError(f"run kind {kind!r} must be one of {', '.join(RUN_KINDS)}")
    return {
        "id": run_id,
        "base_model": base_model,
        "kind": kind,
        "status": "pending",
        "file_id": None,
        "job_id": None,
        "job_status": None,
        "fine_tuned_model": None,
        "training_seconds": None,
        "trained_tokens": None,
        "cost_estimate_usd": None,
        "events": [],
        "progress": {"done": 0, "total": 0},
        "metrics": None,
        "predictions": [],
        "error": None,
        "created_at": now_iso(),
        "updated_at": None,
        "finished_at": None,
        "usage": None,
        "cost_usd": None,
        "cost_note": None,
        "validation_file": None,
        "loss_curve": [],
        "attempt": 1,
    }


def new_experiment_record(spec: ExperimentSpec, base_url: str, exp_id: str | None = None) -> ExperimentRecord:
    """A queued experiment with one pending run per fine-tuned model, then one per zero-shot model.

    The caps are checked again here: a script may change a spec after building it."""
    check_caps(spec)
    assert spec.prompt is not None, "ExperimentSpec.__post_init__ sets the reference preset"
    created = now_iso()
    runs = [new_run_record(f"run-{i}", model, "fine-tuned") for i, model in enumerate(spec.models, start=1)]
    runs += [
        new_run_record(f"run-{i}", model, "zero-shot") for i, model in enumerate(spec.zero_shot, start=len(runs) + 1)
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "id": exp_id or new_experiment_id(),
        "status": "queued",
        "created_at": created,
        "updated_at": created,
        "finished_at": None,
        "error": None,
        "cancel_requested": False,
        "events": [],
        "dataset": {
            "name": spec.dataset_name,
            "path": spec.dataset_path,
            "sha256": spec.dataset_sha256,
            "columns": {"text": spec.text_column, "label": spec.label_column},
            "n_rows": None,
            "class_counts": None,
        },
        # SamplingSpec.to_dict (shared/dataset_sampling.py) is annotated as a plain dict; it builds exactly `Sampling`.
        "sampling": cast(Sampling, spec.sampling.to_dict()),
        "prompt": spec.prompt.to_dict(),
        "hyperparameters": normalize_hyperparameters(spec.hyperparameters),
        "provider": {"base_url": base_url},
        "split": None,
        "training_file": None,
        "validation_file": None,
        "runs": runs,
        "summary": None,
        "mlflow": None,
        "rerun_of": None,
    }


def spec_from_record(record: ExperimentRecord) -> ExperimentSpec:
    """The spec an existing record was created from (to re-run it, or to rebuild the canvas)."""
    runs = record.get("runs", [])
    return ExperimentSpec(
        dataset_sha256=record["dataset"]["sha256"],
        dataset_name=record["dataset"]["name"],
        dataset_path=record["dataset"].get("path"),
        text_column=record["dataset"]["columns"]["text"],
        label_column=record["dataset"]["columns"]["label"],
        models=[run["base_model"] for run in runs if run["kind"] == "fine-tuned"],
        zero_shot=[run["base_model"] for run in runs if run["kind"] == "zero-shot"],
        sampling=SamplingSpec.from_dict(record["sampling"]),
        prompt=PromptPreset.from_dict(record["prompt"]),
        hyperparameters=dict(record.get("hyperparameters") or {}),
    )


def summarize_runs(runs: Sequence[RunState], predictions: Mapping[str, Sequence[Prediction]] | None = None) -> Summary:
    """The comparison table (one row per run), the paired comparisons of the succeeded runs scored on the same test
    items (`predictions`: run id -> its stored predictions), and the best run: the top succeeded run by accuracy,
    declared only when it is significantly better than the runner-up (`verdict` says which, or why none)."""
    table: list[SummaryRow] = []
    for run in runs:
        metrics = run.get("metrics")
        table.append(
            {
                "run": run["id"],
                "base_model": run["base_model"],
                "kind": run["kind"],
                "status": run["status"],
                "fine_tuned_model": run.get("fine_tuned_model"),
                "accuracy": metrics["accuracy"] if metrics else None,
                "macro_f1": metrics["macro_f1"] if metrics else None,
                "invalid": metrics["invalid"] if metrics else None,
                "training_seconds": run.get("training_seconds"),
                "cost_estimate_usd": run.get("cost_estimate_usd"),
                "cost_usd": run.get("cost_usd"),
            }
        )
    accuracy = {
        row["run"]: row["accuracy"] for row in table if row["status"] == "succeeded" and row["accuracy"] is not None
    }
    predictions = predictions or {}
    comparisons = significance.compare_runs(
        {run_id: significance.correctness(predictions[run_id]) for run_id in accuracy if run_id in predictions}
    )
    best, verdict = significance.best_run(accuracy, comparisons)
    return {
        "best_run": best,
        "table": table,
        "comparisons": [comparison.to_dict() for comparison in comparisons],
        "verdict": verdict,
    }


def final_status(run_statuses: Iterable[str]) -> ExperimentStatus:
    """The experiment's status once its runs are finished: succeeded only if every run succeeded, partial when some
    succeeded and the others failed, failed when none succeeded."""
    statuses = list(run_statuses)
    if statuses and all(status == "succeeded" for status in statuses):
        return "succeeded"
    if any(status == "cancelled" for status in statuses):
        return "cancelled"
    if any(status == "succeeded" for status in statuses):
        return "partial"
    return "failed"
