"""The validation file and the loss curve on the real stack: a Celery worker process, local_openai fine-tuning
local-minilm (several steps, a validation loss at the end of each epoch) on the session's Redis, and the web app
serving the record and the chart."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET

import pytest

from shared.loss_curve import csv_points
from shared.settings import load_settings
from shared.store import Store
from web import create_app
from worker.celery_app import reconfigure

TERMINAL = ("succeeded", "failed", "cancelled")
LABELS = ("negative", "neutral", "positive")


@pytest.mark.slow
def test_a_fine_tuned_run_records_its_validation_file_and_a_loss_curve_filled_while_it_trains(
    tq_stack, start_worker, tq_store: Store, sample_csv: bytes
):
    start_worker(concurrency=2)
    reconfigure(load_settings(tq_stack.env))  # enqueue on this stack's Redis, whatever an earlier test configured
    app = create_app(
        {"SETTINGS": load_settings({**tq_stack.env, "SECRET_KEY": "loss-curve-test-secret"}), "TESTING": True}
    )
    client = app.test_client()
    sha256 = client.post(
        "/api/datasets", data={"file": (io.BytesIO(sample_csv), "tweets.csv")}, content_type="multipart/form-data"
    ).get_json()["sha256"]
    submitted = client.post(
        "/api/experiments",
        json={
            "dataset": sha256,
            "models": ["local-minilm"],
            "text_column": "text",
            "label_column": "airline_sentiment",
            "validation_count": 4,
            "sampling": {"train_counts": {label: 8 for label in LABELS}, "test_counts": {label: 3 for label in LABELS}},
            "hyperparameters": {"n_epochs": 3, "batch_size": 8},
        },
    )
    assert submitted.status_code == 202, submitted.get_json()
    exp_id = submitted.get_json()["id"]

    seen_while_training: list[int] = []
    deadline = time.monotonic() + 600  # only so a broken stack fails instead of hanging; not a speed check
    while (record := tq_store.get_experiment(exp_id, with_predictions=False))["status"] not in TERMINAL:
        assert time.monotonic() < deadline, record
        run = record["runs"][0]
        if run["job_status"] == "running" and run["loss_curve"]:
            seen_while_training.append(len(run["loss_curve"]))
        time.sleep(0.1)

    record = client.get(f"/api/experiments/{exp_id}").get_json()
    run = record["runs"][0]
    assert record["status"] == "succeeded", record["error"]
    assert run["validation_file"] == record["validation_file"]["file_id"]
    assert record["validation_file"]["n_examples"] == 12 and record["split"]["validation_counts"] == {
        label: 4 for label in LABELS
    }
    assert not set(record["split"]["validation_rows"]) & set(
        record["split"]["train_rows"] + record["split"]["test_rows"]
    )
    curve = run["loss_curve"]
    assert [point["step"] for point in curve] == list(range(1, 10)), "3 epochs of 3 steps, each step once"
    assert [point["step"] for point in curve if point["valid_loss"] is not None] == [3, 6, 9], curve
    assert seen_while_training and min(seen_while_training) < len(curve), (
        "the curve was filled while the job trained, not only at its end"
    )

    from openai import OpenAI

    provider = OpenAI(base_url=tq_stack.openai_base_url, api_key="unused")
    job = provider.fine_tuning.jobs.retrieve(run["job_id"])
    assert job.validation_file == run["validation_file"]
    reported = csv_points(provider.files.content(job.result_files[0]).content)
    assert curve == reported, "the curve is what the provider's result file says"

    chart = client.get(f"/experiments/{exp_id}/charts/loss/run-1.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    ids = {element.get("id") for element in ET.fromstring(chart.data).iter("{http://www.w3.org/2000/svg}g")}
    assert {"train_loss", "valid_loss"} <= ids
    assert "charts/loss/run-1.svg" in client.get(f"/experiments/{exp_id}/results").get_data(as_text=True)
