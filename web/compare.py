"""Comparing runs picked from any experiments: the `/compare` page, and the loading behind it and `GET /api/compare`.

The view only fetches the named experiments; `shared.comparison` decides whether and how the runs compare.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from shared.comparison import MAX_COMPARED_RUNS, ComparisonError, CrossComparisonBody, RunRef, compare, parse_run_refs
from shared.record_types import ExperimentRecord, Run
from shared.store import NotFound
from web.store import get_store

bp = Blueprint("compare", __name__)
RECENT_EXPERIMENTS = 20
"""Experiments the page offers runs from (any other run can still be named in the URL)."""


def compare_refs(values: Iterable[str]) -> CrossComparisonBody:
    """Compare the runs named by `?runs=` values; raises ComparisonError (a bad request) or NotFound."""
    refs = parse_run_refs(values)
    store = get_store()
    records: dict[str, ExperimentRecord] = {}
    chosen: list[tuple[RunRef, ExperimentRecord, Run]] = []
    for ref in refs:
        if ref.exp_id not in records:
            record = store.get_experiment(ref.exp_id)
            if record is None:
                raise NotFound(f"there is no experiment {ref.exp_id}")
            records[ref.exp_id] = record
        run = next((run for run in records[ref.exp_id]["runs"] if run["id"] == ref.run_id), None)
        if run is None:
            raise NotFound(f"experiment {ref.exp_id} has no run {ref.run_id}")
        chosen.append((ref, records[ref.exp_id], run))
    return compare(chosen)


@bp.get("/compare")
def page() -> ResponseReturnValue:
    """A form listing recent experiments' finished runs; with runs chosen, their table and comparison sentences."""
    values = request.args.getlist("runs")
    selected = {part.strip() for value in values for part in value.split(",")}
    result: CrossComparisonBody | None = None
    error, status = None, 200
    if values:
        try:
            result = compare_refs(values)
        except ComparisonError as exc:
            error, status = str(exc), 400
        except NotFound as exc:
            error, status = str(exc), 404
    experiments = [
        record
        for record in get_store().list_experiments(limit=RECENT_EXPERIMENTS)
        if any(run["status"] == "succeeded" and run.get("metrics") for run in record["runs"])
    ]
    return render_template(
        "compare.html",
        experiments=experiments,
        selected=selected,
        result=result,
        error=error,
        max_runs=MAX_COMPARED_RUNS,
    ), status
