"""Exports of an experiment: predictions as CSV, and a JSON manifest that says how to reproduce it.

CSV cells that a spreadsheet would run as a formula (starting with = + - @, a tab, a carriage return or a NUL) get
a leading apostrophe, as OWASP's "CSV Injection" page and ASVS 5.0 requirement 1.2.10 prescribe, since tweets,
labels and model outputs are untrusted text; every other cell is written byte for byte (quoted per RFC 4180 by
the csv module). The JSON export is not a spreadsheet format and keeps every string as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import TypedDict

from shared.record_types import (
    Columns,
    ExperimentRecord,
    ExperimentStatus,
    Hyperparameters,
    Prompt,
    Run,
    RunKind,
    RunStatus,
    Sampling,
    SplitInfo,
    StoredItems,
    TrainingFile,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
PREDICTION_COLUMNS = ("run", "base_model", "model", "row", "text", "expected", "output", "predicted", "correct")
MANIFEST_VERSION = 1


class ManifestDataset(TypedDict):
    name: str | None
    sha256: str | None
    columns: Columns | None
    n_rows: int | None
    class_counts: dict[str, int] | None


class ManifestProvider(TypedDict):
    base_url: str | None


class ManifestModel(TypedDict):
    """One run: which model was trained from which base, and how it scored."""

    run: str
    kind: RunKind
    base_model: str
    job_id: str | None
    fine_tuned_model: str | None
    status: RunStatus | None
    trained_tokens: int | None
    cost_estimate_usd: float | None
    accuracy: float | None
    macro_f1: float | None


class Manifest(TypedDict):
    """What `build_manifest` returns (`record.json`'s `manifest`)."""

    manifest_version: int
    schema_version: int | None
    experiment_id: str
    status: ExperimentStatus | None
    created_at: str | None
    finished_at: str | None
    dataset: ManifestDataset
    sampling: Sampling | None
    split: SplitInfo | None
    prompt: Prompt | None
    hyperparameters: Hyperparameters | None
    provider: ManifestProvider
    training_file: TrainingFile | None
    models: list[ManifestModel]


def neutralize_cell(value: object) -> str:
    """The cell as text, prefixed with an apostrophe when a spreadsheet would treat it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_bytes(header: Iterable[str], rows: Iterable[Iterable[object]]) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheets detect the encoding) with every cell neutralised."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralize_cell(name) for name in header])
    writer.writerows([neutralize_cell(cell) for cell in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def prediction_rows(record: ExperimentRecord, texts: Mapping[int, str] | None = None) -> list[list[object]]:
    """One row per prediction of every run; `texts` maps row number -> input text when available."""
    texts = texts or {}
    rows: list[list[object]] = []
    for run in record.get("runs", []):
        model = run.get("fine_tuned_model") or run["base_model"]
        for prediction in sorted(run.get("predictions", []), key=lambda p: p["row"]):
            predicted = prediction.get("predicted")
            rows.append(
                [
                    run["id"],
                    run["base_model"],
                    model,
                    prediction["row"],
                    texts.get(prediction["row"], ""),
                    prediction["expected"],
                    prediction.get("output"),
                    predicted if predicted else "",
                    predicted == prediction["expected"],
                ]
            )
    return rows


def predictions_csv(record: ExperimentRecord, texts: Mapping[int, str] | None = None) -> bytes:
    return csv_bytes(PREDICTION_COLUMNS, prediction_rows(record, texts))


def item_texts(items: StoredItems | None) -> dict[int, str]:
    """row -> text from the items prepare stored (`{"test": [{"row", "text", "label"}, ...], ...}`)."""
    if not items:
        return {}
    return {item["row"]: item["text"] for item in [*items.get("train", []), *items.get("test", [])]}


def build_manifest(record: ExperimentRecord) -> Manifest:
    """What was run and on what: dataset hash, split, prompts, hyperparameters, model ids, and the results."""
    dataset = record.get("dataset") or {}
    return {
        "manifest_version": MANIFEST_VERSION,
        "schema_version": record.get("schema_version"),
        "experiment_id": record["id"],
        "status": record.get("status"),
        "created_at": record.get("created_at"),
        "finished_at": record.get("finished_at"),
        "dataset": {
            "name": dataset.get("name"),
            "sha256": dataset.get("sha256"),
            "columns": dataset.get("columns"),
            "n_rows": dataset.get("n_rows"),
            "class_counts": dataset.get("class_counts"),
        },
        "sampling": record.get("sampling"),
        "split": record.get("split"),
        "prompt": record.get("prompt"),
        "hyperparameters": record.get("hyperparameters"),
        "provider": {"base_url": (record.get("provider") or {}).get("base_url")},
        "training_file": record.get("training_file"),
        "models": [_manifest_model(run) for run in record.get("runs", [])],
    }


def _manifest_model(run: Run) -> ManifestModel:
    metrics = run.get("metrics")
    return {
        "run": run["id"],
        "kind": run["kind"],
        "base_model": run["base_model"],
        "job_id": run.get("job_id"),
        "fine_tuned_model": run.get("fine_tuned_model"),
        "status": run.get("status"),
        "trained_tokens": run.get("trained_tokens"),
        "cost_estimate_usd": run.get("cost_estimate_usd"),
        "accuracy": metrics.get("accuracy") if metrics else None,
        "macro_f1": metrics.get("macro_f1") if metrics else None,
    }
