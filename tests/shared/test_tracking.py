"""MLflow logging against a real local store (a sqlite file in tmp_path), and its failures: an unwritable store
path and a closed port, neither of which may raise, and neither of which may show a password."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient
from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    MLFLOW_HTTP_REQUEST_TIMEOUT,
)

from shared import tracking
from shared.dataset_sampling import reference_sampling
from shared.records import ExperimentSpec, new_experiment_record, now_iso
from shared.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["negative", "neutral", "positive"]
FINE_TUNED = "ft:local-tfidf:local:tq:abc123"
SPEC = ExperimentSpec(
    dataset_sha256="ab" * 32,
    dataset_name="tweets.csv",
    dataset_path=None,
    text_column="text",
    label_column="airline_sentiment",
    models=["local-tfidf"],
    zero_shot=["local-minilm"],
    sampling=reference_sampling(LABELS),
    hyperparameters={"n_epochs": 3, "seed": 7},
)


def finished_record() -> dict:
    """An experiment whose fine-tuned run succeeded (with intervals and a loss curve) and whose zero-shot run
    failed."""
    record = new_experiment_record(SPEC, "http://127.0.0.1:8100/v1")
    record.update(
        status="failed",
        finished_at=now_iso(),
        split={
            "train_rows": [0, 1, 2],
            "test_rows": [10, 11],
            "train_counts": {"negative": 2, "neutral": 1},
            "test_counts": {"negative": 1, "neutral": 1},
            "labels": LABELS,
        },
    )
    fine_tuned, zero_shot = record["runs"]
    fine_tuned.update(
        status="succeeded",
        job_id="ftjob-1",
        fine_tuned_model=FINE_TUNED,
        training_seconds=4.5,
        trained_tokens=1234,
        cost_estimate_usd=0.0,
        finished_at=now_iso(),
        metrics={
            "accuracy": 0.5,
            "macro_f1": 0.4,
            "invalid": 0,
            "n": 2,
            "accuracy_ci95": [0.09, 0.91],
            "macro_f1_ci95": [0.0, 1.0],
            "per_class": {},
            "confusion_matrix": {"labels": LABELS, "matrix": [], "invalid": []},
        },
        loss_curve=[
            {"step": 1, "train_loss": 1.25, "valid_loss": None},
            {"step": 2, "train_loss": 0.75, "valid_loss": 0.875},
        ],
        predictions=[
            {"row": 10, "expected": "negative", "output": "negative", "predicted": "negative"},
            {"row": 11, "expected": "neutral", "output": "=cmd()", "predicted": None},
        ],
    )
    zero_shot.update(status="failed", error="the provider has no model local-minilm", finished_at=now_iso())
    return record


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def logged_runs(uri: str, record: dict) -> dict:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(tracking.mlflow_experiment_name(record["id"]))
    return {run.data.tags["tunequeue.run"]: run for run in client.search_runs([experiment.experiment_id])}


def test_each_finished_run_is_logged_with_params_metrics_loss_curve_tags_and_artifacts(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    record = finished_record()

    result = tracking.log_experiment(record, uri, texts={10: "bad flight", 11: "ok"})

    assert result["status"] == "logged", result["error"]
    assert result["error"] is None and result["tracking_uri"] == uri
    assert result["experiment_name"] == f"tunequeue/{record['id']}"
    runs = logged_runs(uri, record)
    assert set(runs) == set(result["runs"]) == {"run-1", "run-2"}
    assert {name: run.info.run_id for name, run in runs.items()} == result["runs"]
    assert runs["run-1"].info.experiment_id == result["experiment_id"]

    fine_tuned = runs["run-1"]
    assert fine_tuned.info.status == "FINISHED"
    params = fine_tuned.data.params
    assert params["base_model"] == "local-tfidf" and params["kind"] == "fine-tuned"
    assert params["n_epochs"] == "3" and params["seed"] == "7" and params["batch_size"] == "auto"
    assert params["dataset.sha256"] == "ab" * 32
    assert params["prompt.sha256"] == tracking.prompt_sha256(record["prompt"])
    assert len(params["prompt.sha256"]) == 64
    assert json.loads(params["split.train_counts"]) == record["sampling"]["train_counts"]
    assert params["split.test_offset"] == str(record["sampling"]["test_offset"])
    assert params["split.n_train"] == "3" and params["split.n_test"] == "2"
    metrics = fine_tuned.data.metrics
    assert metrics["accuracy"] == 0.5 and metrics["macro_f1"] == 0.4
    assert (metrics["accuracy_ci95_low"], metrics["accuracy_ci95_high"]) == (0.09, 0.91)
    assert (metrics["macro_f1_ci95_low"], metrics["macro_f1_ci95_high"]) == (0.0, 1.0)
    assert metrics["trained_tokens"] == 1234
    client = MlflowClient(tracking_uri=uri)
    run_id = fine_tuned.info.run_id
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train_loss")] == [(1, 1.25), (2, 0.75)]
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "valid_loss")] == [(2, 0.875)]
    tags = fine_tuned.data.tags
    assert tags["tunequeue.experiment"] == record["id"] and tags["tunequeue.fine_tuned_model"] == FINE_TUNED
    assert tags["mlflow.runName"] == "run-1 local-tfidf"

    artifacts = tmp_path / "artifacts"
    client.download_artifacts(run_id, "", str(artifacts))
    rows = list(csv.reader(io.StringIO((artifacts / "predictions.csv").read_text("utf-8-sig"))))
    assert rows[0][:5] == ["run", "base_model", "model", "row", "text"]
    assert [row[4] for row in rows[1:]] == ["bad flight", "ok"]
    assert rows[2][6] == "'=cmd()", "the CSV artifact neutralises formulas like the download"
    exported = json.loads((artifacts / "record.json").read_text("utf-8"))
    assert exported["record"]["id"] == record["id"] and exported["manifest"]["experiment_id"] == record["id"]

    failed = runs["run-2"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["tunequeue.error"] == "the provider has no model local-minilm"
    assert "accuracy" not in failed.data.metrics and "n_epochs" not in failed.data.params


def test_logging_again_keeps_the_runs_already_logged(tmp_path):
    """The summarize task may run twice (a redelivered message): no run is logged twice."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    record = finished_record()
    first = tracking.log_experiment(record, uri)
    second = tracking.log_experiment(record, uri)
    assert second["status"] == "logged" and second["runs"] == first["runs"]
    assert len(logged_runs(uri, record)) == 2


def test_a_run_finished_again_replaces_its_earlier_mlflow_run(tmp_path):
    """A retried run (item 5 of issue 12) finishes again, later: its stale MLflow run gives way to the new one."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    record = finished_record()
    first = tracking.log_experiment(record, uri)
    record["runs"][1].update(
        status="succeeded", error=None, finished_at=now_iso(), metrics={**record["runs"][0]["metrics"], "accuracy": 1.0}
    )
    second = tracking.log_experiment(record, uri)
    assert second["runs"]["run-1"] == first["runs"]["run-1"]
    assert second["runs"]["run-2"] != first["runs"]["run-2"]
    runs = logged_runs(uri, record)
    assert runs["run-2"].info.run_id == second["runs"]["run-2"] and len(runs) == 2
    assert runs["run-2"].info.status == "FINISHED" and runs["run-2"].data.metrics["accuracy"] == 1.0


def test_an_unwritable_store_is_reported_not_raised(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    uri = f"sqlite:///{tmp_path}/a-file/mlflow.db"
    result = tracking.log_experiment(finished_record(), uri)
    assert result["status"] == "failed" and result["runs"] == {} and result["experiment_id"] is None
    assert "a-file" in result["error"]


def test_an_unreachable_server_is_reported_without_its_password(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://tq:hunter2-secret@127.0.0.1:{closed_port()}"
    result = tracking.log_experiment(finished_record(), uri)
    assert result["status"] == "failed"
    assert "Connection refused" in result["error"] or "connect" in result["error"].lower()
    assert "hunter2-secret" not in json.dumps(result)
    assert result["tracking_uri"] == uri.replace("hunter2-secret", "***")


def test_http_retries_are_bounded_by_the_provider_settings_unless_mlflow_variables_are_set(monkeypatch):
    """MLflow's defaults (7 retries, backoff factor 2, 120 s timeout) can hold the summarize task past the broker
    visibility timeout; the worker uses TQ_MAX_RETRIES and TQ_REQUEST_TIMEOUT_S instead, unless the operator set
    MLflow's own variables."""
    for variable in (MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, MLFLOW_HTTP_REQUEST_TIMEOUT):
        monkeypatch.setenv(variable.name, "0")
        monkeypatch.delenv(variable.name)
    monkeypatch.setenv(MLFLOW_HTTP_REQUEST_TIMEOUT.name, "9")
    tracking.bound_http_requests(load_settings({"TQ_MAX_RETRIES": "2", "TQ_REQUEST_TIMEOUT_S": "4.5"}))
    assert os.environ[MLFLOW_HTTP_REQUEST_MAX_RETRIES.name] == "2"
    assert os.environ[MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.name] == "1"
    assert os.environ[MLFLOW_HTTP_REQUEST_TIMEOUT.name] == "9"


def test_track_stores_the_outcome_on_the_record_and_does_nothing_without_a_uri(store, tmp_path):
    record = finished_record()
    exp_id = store.create_experiment(SPEC, record["provider"]["base_url"])
    store.update_experiment(exp_id, status=record["status"], split=record["split"])
    for run in record["runs"]:
        store.update_run(exp_id, run["id"], **{key: value for key, value in run.items() if key != "predictions"})

    assert tracking.track(store, exp_id, load_settings({})) is None
    assert store.get_experiment(exp_id)["mlflow"] is None

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = tracking.track(store, exp_id, load_settings({"MLFLOW_TRACKING_URI": uri}))
    stored = store.get_experiment(exp_id)
    assert stored["mlflow"] == result and result["status"] == "logged"
    assert result["experiment_name"] == f"tunequeue/{exp_id}" and set(result["runs"]) == {"run-1", "run-2"}
    assert any("logged 2 runs to MLflow" in event["message"] for event in stored["events"])


def test_importing_the_module_does_not_import_mlflow():
    """Without MLFLOW_TRACKING_URI, MLflow is never imported (it is optional, and slow to import)."""
    code = "import sys, shared.tracking; print('mlflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
