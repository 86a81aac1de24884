"""Results of an experiment: the comparison table, per-item predictions with filters, SVG charts, downloads."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from shared.export import build_manifest, item_texts, predictions_csv
from shared.pricing import PRICES_AS_OF
from shared.record_types import ExperimentRecord, Metrics, Run
from web import charts
from web.store import get_store

bp = Blueprint("results", __name__, url_prefix="/experiments/<exp_id>")
FILTERS = ("all", "errors", "disagreements")
SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "Cache-Control": "no-cache"}


def _record(exp_id: str) -> ExperimentRecord:
    record = get_store().get_experiment(exp_id)
    if record is None:
        abort(404, description=f"There is no experiment {exp_id}.")
    return record


def _scored_runs(record: ExperimentRecord) -> list[Run]:
    return [run for run in record.get("runs", []) if run.get("metrics")]


def _metrics(run: Run) -> Metrics:
    """The metrics of a run from `_scored_runs`."""
    metrics = run["metrics"]
    assert metrics is not None, f"run {run['id']} has no metrics; only scored runs have"
    return metrics


def _items(record: ExperimentRecord, runs: list[Run], show: str) -> tuple[list[dict[str, Any]], int]:
    """One entry per test row with every scored run's prediction, filtered to errors or disagreements."""
    texts = item_texts(get_store().get_items(record["id"]))
    by_run = [{p["row"]: p for p in run.get("predictions", [])} for run in runs]
    rows = sorted(set().union(*by_run)) if by_run else []
    items = []
    for row in rows:
        expected = next(preds[row]["expected"] for preds in by_run if row in preds)
        cells = []
        for preds in by_run:
            p = preds.get(row) or {"predicted": None, "output": ""}
            css = "missing" if row not in preds else ("right" if p["predicted"] == expected else "wrong")
            cells.append({"predicted": p["predicted"], "output": p.get("output") or "", "css": css})
        wrong = any(cell["css"] == "wrong" for cell in cells)
        disagree = len({cell["predicted"] for cell in cells}) > 1
        if show == "all" or (show == "errors" and wrong) or (show == "disagreements" and disagree):
            items.append({"row": row, "text": texts.get(row, ""), "expected": expected, "predictions": cells})
    return items, len(rows)


def results_view(record: ExperimentRecord, show: str = "all") -> dict[str, Any]:
    """What the results template shows: the comparison table (figures with their intervals, estimated and actual
    cost), the paired comparisons and the verdict on a best run, labels and the filtered per-item entries."""
    runs = _scored_runs(record)
    split = record.get("split")
    labels = list(split["labels"] if split else [])
    table = [
        {
            "run": run["id"],
            "base_model": run["base_model"],
            "kind": run["kind"],
            "accuracy": _metrics(run).get("accuracy"),
            "accuracy_ci95": _metrics(run).get("accuracy_ci95"),
            "macro_f1": _metrics(run).get("macro_f1"),
            "macro_f1_ci95": _metrics(run).get("macro_f1_ci95"),
            "per_class": _metrics(run).get("per_class") or {},
            "invalid": _metrics(run).get("invalid"),
            "training_seconds": run.get("training_seconds"),
            "trained_tokens": run.get("trained_tokens"),
            "cost_estimate_usd": run.get("cost_estimate_usd"),
            "cost_usd": run.get("cost_usd"),
            "cost_note": run.get("cost_note"),
        }
        for run in runs
    ]
    items, n_items = _items(record, runs, show) if runs else ([], 0)
    summary = record.get("summary")
    loss_charts = [
        {"run": run["id"], "base_model": run["base_model"], "points": len(run.get("loss_curve") or [])}
        for run in record.get("runs", [])
        if run.get("loss_curve")
    ]
    return {
        "table": table,
        "labels": labels,
        "entries": items,
        "n_items": n_items,
        "loss_charts": loss_charts,
        "best_run": summary["best_run"] if summary else None,
        "verdict": summary.get("verdict") if summary else None,
        "comparisons": summary.get("comparisons", []) if summary else [],
        "prices_as_of": PRICES_AS_OF,
        "version": record.get("updated_at", "") + "-" + str(len(runs)),
    }


@bp.get("/results")
def fragment(exp_id: str) -> str:
    """The results section alone, for the live page to swap in when runs finish."""
    show = request.args.get("show", "all")
    record = _record(exp_id)
    return render_template(
        "experiments/_results.html",
        exp=record,
        show=show if show in FILTERS else "all",
        results=results_view(record, show),
    )


@bp.get("/charts/comparison.svg")
def comparison_chart(exp_id: str) -> Response:
    runs = _scored_runs(_record(exp_id))
    svg = charts.comparison_svg(
        [f"{run['id']} {run['base_model']}" for run in runs],
        {
            "accuracy": [_metrics(run).get("accuracy") for run in runs],
            "macro-F1": [_metrics(run).get("macro_f1") for run in runs],
        },
    )
    return Response(svg, mimetype="image/svg+xml", headers=SVG_HEADERS)


@bp.get("/charts/confusion/<run_id>.svg")
def confusion_chart(exp_id: str, run_id: str) -> Response:
    run = next((run for run in _scored_runs(_record(exp_id)) if run["id"] == run_id), None)
    if run is None or not _metrics(run).get("confusion_matrix"):
        abort(404, description=f"Run {run_id} of {exp_id} has no metrics yet.")
    matrix = _metrics(run)["confusion_matrix"]
    svg = charts.confusion_matrix_svg(matrix["labels"], matrix["matrix"], f"{run_id} {run['base_model']}")
    return Response(svg, mimetype="image/svg+xml", headers=SVG_HEADERS)


@bp.get("/charts/loss/<run_id>.svg")
def loss_chart(exp_id: str, run_id: str) -> Response:
    """The run's training and validation loss by step; 404 until its job has reported a loss."""
    run = next((run for run in _record(exp_id).get("runs", []) if run["id"] == run_id), None)
    if run is None or not run.get("loss_curve"):
        abort(404, description=f"Run {run_id} of {exp_id} has no loss curve yet.")
    svg = charts.loss_curve_svg(run["loss_curve"], f"{run_id} {run['base_model']} loss")
    return Response(svg, mimetype="image/svg+xml", headers=SVG_HEADERS)


@bp.get("/predictions.csv")
def predictions_csv_download(exp_id: str) -> Response:
    record = _record(exp_id)
    data = predictions_csv(record, item_texts(get_store().get_items(exp_id)))
    return Response(
        data, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{exp_id}-predictions.csv"'}
    )


@bp.get("/record.json")
def record_json(exp_id: str) -> Response:
    record = _record(exp_id)
    body = json.dumps({"manifest": build_manifest(record), "record": record}, ensure_ascii=False, indent=2)
    return Response(
        body, mimetype="application/json", headers={"Content-Disposition": f'attachment; filename="{exp_id}.json"'}
    )
