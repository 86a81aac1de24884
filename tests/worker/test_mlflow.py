"""MLflow logging on the real stack: a worker with MLFLOW_TRACKING_URI logs each finished run to a real sqlite store,
and a worker whose tracking server is unreachable still finishes the experiment, showing why nothing was logged."""

from __future__ import annotations

import csv
import io
import json
import socket

import mlflow
import pytest
from mlflow import MlflowClient
from test_pipeline import sample_spec
from worker_helpers import wait_finished, wait_until

from shared import tracking
from worker import pipeline


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlflow_outcome(store, exp_id: str) -> dict:
    """The record's `mlflow` field, written by the summarize task just after the experiment's final status (the
    wait only bounds a broken worker; it is not a speed check)."""
    return wait_until(
        lambda: store.get_experiment(exp_id, with_predictions=False)["mlflow"],
        60,
        "the summarize task to log the experiment to MLflow",
    )


@pytest.mark.slow
def test_each_run_of_a_finished_experiment_is_found_by_mlflow_search_runs(
    start_worker, tq_store, tmp_path, monkeypatch
):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    start_worker(MLFLOW_TRACKING_URI=uri)
    exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=5))
    record = wait_finished(tq_store, exp_id)
    assert record["status"] == "succeeded", record["error"]
    logged = mlflow_outcome(tq_store, exp_id)
    assert logged["status"] == "logged", logged["error"]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (found,) = mlflow.search_runs(experiment_names=[f"tunequeue/{exp_id}"], output_format="list")
    (run,) = record["runs"]
    assert found.info.run_id == logged["runs"]["run-1"] and found.info.status == "FINISHED"
    params, metrics, tags = found.data.params, found.data.metrics, found.data.tags
    assert params["base_model"] == "local-tfidf" and params["kind"] == "fine-tuned"
    assert params["dataset.sha256"] == record["dataset"]["sha256"]
    assert params["prompt.sha256"] == tracking.prompt_sha256(record["prompt"])
    assert json.loads(params["split.test_counts"]) == record["sampling"]["test_counts"]
    assert metrics["accuracy"] == run["metrics"]["accuracy"] and metrics["macro_f1"] == run["metrics"]["macro_f1"]
    assert metrics["n"] == 15
    assert tags["tunequeue.experiment"] == exp_id and tags["tunequeue.run"] == "run-1"
    assert tags["tunequeue.fine_tuned_model"] == run["fine_tuned_model"]

    artifacts = tmp_path / "artifacts"
    MlflowClient(tracking_uri=uri).download_artifacts(found.info.run_id, "", str(artifacts))
    rows = list(csv.DictReader(io.StringIO((artifacts / "predictions.csv").read_text("utf-8-sig"))))
    assert sorted(int(row["row"]) for row in rows) == sorted(record["split"]["test_rows"])
    assert all(row["text"] for row in rows)
    assert json.loads((artifacts / "record.json").read_text("utf-8"))["record"]["id"] == exp_id
    assert not (tmp_path / "mlruns").exists() and (tmp_path / "mlartifacts").is_dir()


@pytest.mark.slow
def test_an_unreachable_tracking_server_never_fails_the_experiment(start_worker, tq_store):
    """A closed port: MLflow's retries are bounded by TQ_MAX_RETRIES and TQ_REQUEST_TIMEOUT_S (1 and 4 s here), so
    the outcome comes promptly; the password in the URI shows up nowhere."""
    uri = f"http://tq:mlflow-secret@127.0.0.1:{closed_port()}"
    worker = start_worker(MLFLOW_TRACKING_URI=uri)
    exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=5))
    wait_finished(tq_store, exp_id)
    logged = mlflow_outcome(tq_store, exp_id)

    record = tq_store.get_experiment(exp_id)
    assert record["status"] == "succeeded" and record["error"] is None
    assert record["runs"][0]["metrics"]["n"] == 15
    assert logged["status"] == "failed" and logged["runs"] == {}
    assert "Connection refused" in logged["error"], logged["error"]
    assert logged["tracking_uri"] == uri.replace("mlflow-secret", "***")
    warnings = [event["message"] for event in record["events"] if event["level"] == "warning"]
    assert any("not logged to MLflow" in message for message in warnings), record["events"]
    assert "mlflow-secret" not in json.dumps(record)
    worker_log = worker.log_path.read_text(errors="replace")
    assert "not logged to MLflow" in worker_log and "mlflow-secret" not in worker_log
