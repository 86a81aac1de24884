"""The summarize step: close the experiment with its comparison table once every run has finished."""

from __future__ import annotations

from shared.record_types import Prediction, Summary
from shared.records import final_status, summarize_runs
from shared.run_state import experiment_record
from shared.store import Store


def summarize(store: Store, exp_id: str) -> Summary:
    """Close the experiment with its comparison table, paired comparisons and verdict; a failed run is listed with
    its error, not hidden, and leaves the experiment `partial` when another run succeeded."""
    record = experiment_record(store, exp_id)
    predictions: dict[str, list[Prediction]] = {
        run["id"]: sorted(store.predictions(exp_id, run["id"]).values(), key=lambda p: p["row"])
        for run in record["runs"]
        if run["status"] == "succeeded"
    }
    result = summarize_runs(record["runs"], predictions)
    status = "cancelled" if store.cancel_requested(exp_id) else final_status(run["status"] for run in record["runs"])
    failed = [run for run in record["runs"] if run["status"] == "failed"]
    error = "; ".join(f"{run['id']} ({run['base_model']}): {run.get('error')}" for run in failed) or None
    store.update_experiment(exp_id, status=status, error=error, summary=result)
    store.add_event(
        exp_id, None, f"experiment {status}; {result['verdict']}", level="info" if status == "succeeded" else "warning"
    )
    return result
