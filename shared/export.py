"""Exports of an experiment: predictions as CSV, and a JSON manifest that says how to reproduce it.

CSV cells that a spreadsheet would run as a formula (starting with = + - @, a tab, a carriage return or a NUL) get
a leading apostrophe, as OWASP's "CSV Injection" page and ASVS 5.0 requirement 1.2.10 prescribe, since tweets,
labels and model outputs are untrusted text; every other cell is written byte for byte (quoted per RFC 4180 by
the csv module). The JSON export is not a spreadsheet format and keeps every string as it is.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Mapping

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
PREDICTION_COLUMNS = ("run", "base_model", "model", "row", "text", "expected", "output", "predicted", "correct")
MANIFEST_VERSION = 1


def neutralize_cell(value: Any) -> str:
    """The cell as text, prefixed with an apostrophe when a spreadsheet would treat it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_bytes(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheets detect the encoding) with every cell neutralised."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralize_cell(name) for name in header])
    writer.writerows([neutralize_cell(cell) for cell in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def prediction_rows(record: Mapping, texts: Mapping[int, str] | None = None) -> list[list[Any]]:
    """One row per prediction of every run; `texts` maps row number -> input text when available."""
    texts = texts or {}
    rows = []
    for run in record.get("runs", []):
        model = run.get("fine_tuned_model") or run["base_model"]
        for prediction in sorted(run.get("predictions", []), key=lambda p: p["row"]):
            predicted = prediction.get("predicted")
            rows.append([run["id"], run["base_model"], model, prediction["row"], texts.get(prediction["row"], ""),
                         prediction["expected"], prediction.get("output"), predicted if predicted else "",
                         predicted == prediction["expected"]])
    return rows


def predictions_csv(record: Mapping, texts: Mapping[int, str] | None = None) -> bytes:
    return csv_bytes(PREDICTION_COLUMNS, prediction_rows(record, texts))


def item_texts(items: Mapping | None) -> dict[int, str]:
    """row -> text from the items prepare stored (`{"test": [{"row", "text", "label"}, ...], ...}`)."""
    if not items:
        return {}
    return {item["row"]: item["text"] for part in ("train", "test") for item in items.get(part, [])}


def build_manifest(record: Mapping) -> dict:
    """What was run and on what: dataset hash, split, prompts, hyperparameters, model ids, and the results."""
    dataset = record.get("dataset") or {}
    return {
        "manifest_version": MANIFEST_VERSION,
        "schema_version": record.get("schema_version"),
        "experiment_id": record["id"],
        "status": record.get("status"),
        "created_at": record.get("created_at"),
        "finished_at": record.get("finished_at"),
        "dataset": {"name": dataset.get("name"), "sha256": dataset.get("sha256"), "columns": dataset.get("columns"),
                    "n_rows": dataset.get("n_rows"), "class_counts": dataset.get("class_counts")},
        "sampling": record.get("sampling"),
        "split": record.get("split"),
        "prompt": record.get("prompt"),
        "hyperparameters": record.get("hyperparameters"),
        "provider": {"base_url": (record.get("provider") or {}).get("base_url")},
        "training_file": record.get("training_file"),
        "models": [{"run": run["id"], "kind": run["kind"], "base_model": run["base_model"],
                    "job_id": run.get("job_id"), "fine_tuned_model": run.get("fine_tuned_model"),
                    "status": run.get("status"), "trained_tokens": run.get("trained_tokens"),
                    "cost_estimate_usd": run.get("cost_estimate_usd"),
                    "accuracy": (run.get("metrics") or {}).get("accuracy"),
                    "macro_f1": (run.get("metrics") or {}).get("macro_f1")}
                   for run in record.get("runs", [])],
    }
