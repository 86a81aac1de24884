"""What the commands print: the progress line while following, and the comparison and experiment tables."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from shared.records import FINISHED_RUN_STATUSES


def run_line(run: Mapping[str, Any]) -> str:
    progress = run.get("progress") or {}
    if run["status"] == "evaluating" and progress.get("total"):
        detail = f"{progress.get('done', 0)}/{progress['total']}"
    elif run["status"] == "fine_tuning":
        detail = run.get("job_status") or ""
    else:
        detail = ""
    return f"{run['base_model']} {run['status']}{' ' + detail if detail else ''}"


def progress_line(record: Mapping[str, Any], width: int = 24) -> str:
    """`[#####.....] 42% running | local-tfidf evaluating 57/100 | ...` from a record without predictions.

    Each run counts as fine-tuning (half of its share, done once a model exists) plus evaluation (the other half, by
    items answered); a zero-shot run is all evaluation."""
    shares = []
    for run in record["runs"]:
        progress = run.get("progress") or {}
        evaluated = progress.get("done", 0) / progress["total"] if progress.get("total") else 0.0
        if run["status"] in FINISHED_RUN_STATUSES:
            shares.append(1.0)
        elif run["kind"] == "zero-shot":
            shares.append(evaluated)
        else:
            shares.append(0.5 * (run["status"] == "evaluating") + 0.5 * evaluated)
    fraction = sum(shares) / len(shares) if shares else 0.0
    filled = int(round(fraction * width))
    runs = " | ".join(run_line(run) for run in record["runs"])
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {record['status']} | {runs}"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, with a dashed line under the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _interval(scores: Mapping[str, Any], key: str) -> str:
    interval = scores.get(key)
    return f" [{interval[0]:.2f}-{interval[1]:.2f}]" if interval else ""


def comparison_table(record: Mapping[str, Any]) -> str:
    """The comparison: model, kind, accuracy and macro-F1 with their 95 % intervals, invalid, training seconds,
    trained tokens, estimated and actual cost; then failures, and each paired comparison as a sentence."""
    header = ["model", "kind", "accuracy", "macro-F1", "invalid", "training s", "tokens", "est. $", "cost $", "status"]
    rows = []
    for run in record["runs"]:
        scores = run.get("metrics") or {}
        name = run.get("fine_tuned_model") or run["base_model"]
        rows.append(
            [
                name,
                run["kind"],
                _number(scores.get("accuracy"), 3) + _interval(scores, "accuracy_ci95"),
                _number(scores.get("macro_f1"), 3) + _interval(scores, "macro_f1_ci95"),
                "-" if scores.get("invalid") is None else str(scores["invalid"]),
                _number(run.get("training_seconds"), 1),
                "-" if run.get("trained_tokens") is None else str(run["trained_tokens"]),
                _number(run.get("cost_estimate_usd"), 4),
                _number(run.get("cost_usd"), 4),
                run["status"],
            ]
        )
    lines = text_table(header, rows)
    for run in record["runs"]:
        if run.get("error"):
            lines.append(f"{run['id']} ({run['base_model']}) failed: {run['error']}")
    comparisons = (record.get("summary") or {}).get("comparisons") or []
    if comparisons:
        lines += ["", "paired comparisons on the same test items (exact McNemar test, 95 % intervals):"]
        lines += [f"  {comparison['sentence']}" for comparison in comparisons]
    notes = sorted({run["cost_note"] for run in record["runs"] if run.get("cost_note")})
    lines += [f"cost: {note}" for note in notes]
    return "\n".join(lines)


def describe(record: Mapping[str, Any]) -> str:
    """A short header for the table: id, status, dataset, split sizes, best run."""
    dataset = record["dataset"]
    split = record.get("split") or {}
    lines = [
        f"experiment {record['id']}: {record['status']}",
        f"dataset {dataset['name']} (sha256 {dataset['sha256'][:12]}), text={dataset['columns']['text']}, "
        f"label={dataset['columns']['label']}",
    ]
    if split:
        lines.append(
            f"train {len(split.get('train_rows', []))} rows {split.get('train_counts')}, "
            f"test {len(split.get('test_rows', []))} rows {split.get('test_counts')}"
        )
    if record.get("error"):
        lines.append(f"error: {record['error']}")
    summary = record.get("summary") or {}
    best = summary.get("best_run")
    if best:
        run = next(run for run in record["runs"] if run["id"] == best)
        lines.append(f"best: {best} ({run.get('fine_tuned_model') or run['base_model']})")
    elif summary.get("verdict"):
        lines.append(f"best: none ({summary['verdict']})")
    return "\n".join(lines)


def experiments_table(records: Sequence[Mapping[str, Any]]) -> str:
    """One line per experiment, newest first: id, status, created, dataset, models, best accuracy."""
    header = ["id", "status", "created", "dataset", "models", "best accuracy"]
    rows = []
    for record in records:
        accuracies = [(run.get("metrics") or {}).get("accuracy") for run in record["runs"]]
        scored = [accuracy for accuracy in accuracies if accuracy is not None]
        rows.append(
            [
                record["id"],
                record["status"],
                record["created_at"],
                record["dataset"]["name"],
                ",".join(run["base_model"] for run in record["runs"]),
                _number(max(scored) if scored else None, 3),
            ]
        )
    return "\n".join(text_table(header, rows))


def print_record(record: Mapping[str, Any], as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(describe(record) + "\n\n" + comparison_table(record) + "\n")
