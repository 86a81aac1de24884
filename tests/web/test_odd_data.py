"""Odd data (tests/odd_data.py) through every page, chart and export.

The first test prepares and scores an experiment with the real step functions on real Redis, the model
answers written by the test; the slow one runs the whole stack (web API, Celery worker, local_openai training
local-tfidf) on the same CSV.
"""

from __future__ import annotations

import io
import time

import pytest
from odd_data import LABELS, assert_renders_intact, odd_csv

from shared.dataset_sampling import SamplingSpec
from shared.evaluate import finish_evaluation
from shared.metrics import make_prediction
from shared.prepare import prepare
from shared.record_types import FINISHED_EXPERIMENT_STATUSES
from shared.records import ExperimentSpec
from shared.settings import load_settings
from shared.store import Store
from shared.summary import summarize
from web import create_app
from worker.celery_app import reconfigure


def test_odd_labels_and_texts_render_intact_on_every_page_chart_and_export(client, store: Store):
    sha256 = store.put_dataset(odd_csv(), "odd.csv")
    spec = ExperimentSpec(
        dataset_sha256=sha256,
        dataset_name="odd.csv",
        dataset_path=None,
        text_column="text",
        label_column="label",
        models=["local-tfidf"],
        zero_shot=["smollm2-135m-instruct"],
        sampling=SamplingSpec(
            train_counts={label: 4 for label in LABELS},
            train_offset=0,
            test_counts={label: 4 for label in LABELS},
            test_offset=4,
        ),
    )
    exp_id = store.create_experiment(spec, "http://127.0.0.1:9/v1")
    split = prepare(store, exp_id)
    ordered = sorted(LABELS)
    answers = {
        "run-1": lambda item: item.label,
        "run-2": lambda item: ordered[(ordered.index(item.label) + item.row) % len(ordered)],
    }
    for run_id, answer in answers.items():
        predictions = {
            item.row: make_prediction(item.row, item.label, answer(item), split.labels) for item in split.test
        }
        for prediction in predictions.values():
            store.save_prediction(exp_id, run_id, prediction)
        finish_evaluation(store, exp_id, run_id, split, predictions)
    summarize(store, exp_id)
    record = assert_renders_intact(client, exp_id)
    assert record["runs"][0]["metrics"]["accuracy"] == 1.0


@pytest.mark.slow
def test_odd_csv_runs_end_to_end_on_the_real_stack(tq_stack, start_worker, tq_store: Store):
    start_worker(concurrency=2)
    reconfigure(load_settings(tq_stack.env))  # enqueue on this stack's Redis, whatever an earlier test configured
    app = create_app(
        {"SETTINGS": load_settings({**tq_stack.env, "SECRET_KEY": "odd-data-test-secret"}), "TESTING": True}
    )
    client = app.test_client()
    uploaded = client.post(
        "/api/datasets", data={"file": (io.BytesIO(odd_csv()), "odd.csv")}, content_type="multipart/form-data"
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    summary = client.get(f"/datasets/{uploaded.get_json()['sha256']}/summary.json?text_column=text&label_column=label")
    assert summary.status_code == 200 and set(summary.get_json()["class_counts"]) == set(LABELS)
    response = client.post(
        "/api/experiments",
        json={
            "dataset": uploaded.get_json()["sha256"],
            "models": ["local-tfidf"],
            "text_column": "text",
            "label_column": "label",
            "sampling": {
                "mode": "random",
                "seed": 3,
                "train_counts": {label: 4 for label in LABELS},
                "test_counts": {label: 4 for label in LABELS},
            },
        },
    )
    assert response.status_code == 202, response.get_json()
    exp_id = response.get_json()["id"]
    deadline = time.monotonic() + 300  # only so a broken stack fails instead of hanging; not a speed check
    while tq_store.get_experiment(exp_id, with_predictions=False)["status"] not in FINISHED_EXPERIMENT_STATUSES:
        assert time.monotonic() < deadline, tq_store.get_experiment(exp_id, with_predictions=False)
        time.sleep(0.5)
    record = assert_renders_intact(client, exp_id)
    (run,) = record["runs"]
    assert run["status"] == "succeeded" and run["fine_tuned_model"].startswith("ft:local-tfidf:")
    assert record["training_file"]["n_examples"] == 12
