"""The OpenAPI document is generated from the record types and the preset list, and real API responses validate
against it (openapi-core's response validation, with the document the app serves).

Responses come from the app on a real Redis; the finished experiment is prepared and scored by the real
step functions (the model answers written by the test), and the slow test runs the whole stack (Celery
worker, local_openai training local-tfidf).
"""

from __future__ import annotations

import io
import json
import time
from typing import Any, get_type_hints

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
from openapi_core.testing import MockRequest
from openapi_core.validation.response.exceptions import InvalidData
from openapi_spec_validator import validate as validate_spec
from werkzeug.test import TestResponse

from shared import prompts
from shared.dataset_sampling import SamplingSpec
from shared.evaluate import finish_evaluation
from shared.metrics import make_prediction
from shared.prepare import prepare
from shared.prompts import PromptPreset
from shared.record_types import (
    FINISHED_EXPERIMENT_STATUSES,
    SCHEMA_VERSION,
    ExperimentRecord,
    ExperimentState,
    Hyperparameters,
    Run,
    RunState,
    Sampling,
)
from shared.records import HYPERPARAMETER_FIELDS, ExperimentSpec
from shared.settings import load_settings
from shared.store import Store
from shared.summary import summarize
from web import create_app
from web.api_bodies import HyperparametersRequest, PromptRequest, SamplingRequest
from web.api_fields import PROMPT_KEYS, SAMPLING_KEYS
from worker.celery_app import reconfigure


def checked(client, response: TestResponse) -> TestResponse:
    """`response`, after validating it against the document the app serves (raises on any mismatch; a JSON body
    the document gives no schema for is a mismatch too).

    The request is described by its method, URL and query alone: its body was consumed by the app, and response
    validation does not read it."""
    document = client.get("/api/openapi.json").get_json()
    sent = response.request
    request = MockRequest(sent.host_url, sent.method, sent.path, args=dict(sent.args))
    result = OpenAPI.from_dict(document).unmarshal_response(request, WerkzeugOpenAPIResponse(response))
    result.raise_for_errors()
    assert result.data is not None or not response.is_json, f"no schema for the {response.status_code} body"
    return response


def upload_api(client, data: bytes, name: str = "t.csv") -> TestResponse:
    return client.post("/api/datasets", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def finished_experiment(store: Store, sample_csv: bytes) -> str:
    """An experiment prepared by `shared.prepare.prepare`, one run answering every item right and one answering
    'neutral', then summarized: a succeeded record with split, metrics, predictions and summary."""
    sha256 = store.put_dataset(sample_csv, "tweets.csv")
    labels = ["negative", "neutral", "positive"]
    spec = ExperimentSpec(
        dataset_sha256=sha256,
        dataset_name="tweets.csv",
        dataset_path=None,
        text_column="text",
        label_column="airline_sentiment",
        models=["local-tfidf"],
        zero_shot=["local-minilm"],
        sampling=SamplingSpec(
            train_counts={label: 5 for label in labels},
            train_offset=0,
            test_counts={label: 5 for label in labels},
            test_offset=100,
        ),
    )
    exp_id = store.create_experiment(spec, "http://127.0.0.1:9/v1")
    split = prepare(store, exp_id)
    for run_id, answer in (("run-1", lambda label: f"{label.title()}."), ("run-2", lambda label: "neutral")):
        predictions = {
            item.row: make_prediction(item.row, item.label, answer(item.label), split.labels) for item in split.test
        }
        for prediction in predictions.values():
            store.save_prediction(exp_id, run_id, prediction)
        finish_evaluation(store, exp_id, run_id, split, predictions)
    summarize(store, exp_id)
    return exp_id


# ------------------------------------------------------------------------------------------ the generated document


def test_the_document_is_valid_openapi_3_1(client):
    document = client.get("/api/openapi.json").get_json()
    validate_spec(document)
    assert document["openapi"] == "3.1.0" and document["info"]["version"] == str(SCHEMA_VERSION)


def test_the_record_schema_is_the_record_type(client):
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    experiment, run = schemas["ExperimentRecord"], schemas["Run"]
    assert list(experiment["properties"]) == list(get_type_hints(ExperimentRecord))
    assert experiment["properties"]["dataset"] == {"$ref": "#/components/schemas/DatasetInfo"}
    assert experiment["properties"]["runs"] == {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}
    assert experiment["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert set(run["properties"]) == set(get_type_hints(Run)) >= {"predictions", "metrics", "deadline_at"}
    assert "deadline_at" not in run["required"] and "predictions" in run["required"]
    assert experiment["additionalProperties"] is False


def test_the_preset_enum_is_the_preset_list(client, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(
        prompts.PRESETS, "terse", PromptPreset(name="terse", system_prompt=None, user_template="{text}")
    )
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    assert schemas["SubmitRequest"]["properties"]["preset"]["enum"] == list(prompts.PRESETS)
    assert schemas["PromptRequest"]["properties"]["preset"]["enum"] == list(prompts.PRESETS)
    assert "terse" in list(prompts.PRESETS)


def test_request_types_name_the_record_fields_and_the_api_s_keys():
    """The JSON submission's nested objects take the record's keys, and the API reads exactly those."""
    assert set(get_type_hints(SamplingRequest)) == set(get_type_hints(Sampling))
    assert set(get_type_hints(HyperparametersRequest)) == set(get_type_hints(Hyperparameters))
    assert set(get_type_hints(HyperparametersRequest)) == set(HYPERPARAMETER_FIELDS)
    assert set(get_type_hints(SamplingRequest)) == {key for key, _ in SAMPLING_KEYS} | {"train_counts", "test_counts"}
    assert set(get_type_hints(PromptRequest)) == set(PROMPT_KEYS)


def test_stored_parts_are_the_record_less_what_is_stored_apart():
    assert set(get_type_hints(ExperimentRecord)) - set(get_type_hints(ExperimentState)) == {"runs"}
    assert set(get_type_hints(Run)) - set(get_type_hints(RunState)) == {"predictions"}


# ------------------------------------------------------------------------------------------ real responses


def test_dataset_upload_delete_and_their_errors_match_the_document(client, sample_csv, store: Store):
    sha256 = checked(client, upload_api(client, sample_csv)).get_json()["sha256"]
    assert checked(client, upload_api(client, b"", "empty.csv")).status_code == 400
    exp_id = client.post("/api/experiments", json={"dataset": sha256, "models": ["local-tfidf"]}).get_json()["id"]
    assert checked(client, client.delete(f"/api/datasets/{sha256}")).status_code == 409
    client.post(f"/api/experiments/{exp_id}/cancel")
    assert checked(client, client.delete(f"/api/datasets/{sha256}")).status_code == 204
    assert checked(client, client.delete(f"/api/datasets/{sha256}")).status_code == 404


def test_upload_limits_match_the_document(make_app, sample_csv, store: Store):
    client = make_app(TQ_DATASET_QUOTA_BYTES=str(len(sample_csv) + 10)).test_client()
    assert checked(client, upload_api(client, sample_csv)).status_code == 201
    assert checked(client, upload_api(client, sample_csv + b"one more,neutral\n")).status_code == 507
    too_large = b"text,label\n" + b"x" * (300 * 1024) + b",neutral\n"
    assert checked(client, upload_api(client, too_large)).status_code == 413


def test_submit_list_get_and_cancel_match_the_document(client, sample_csv, store: Store):
    submitted = checked(
        client,
        client.post(
            "/api/experiments",
            data={
                "file": (io.BytesIO(sample_csv), "tweets.csv"),
                "models": ["local-tfidf"],
                "zero_shot": "local-minilm",
                "n_epochs": "3",
            },
            content_type="multipart/form-data",
        ),
    )
    assert submitted.status_code == 202
    exp_id = submitted.get_json()["id"]
    sha256 = store.list_datasets()[0]["sha256"]
    as_json = checked(
        client,
        client.post(
            "/api/experiments",
            json={
                "dataset": sha256,
                "models": ["local-tfidf"],
                "preset": "consistent",
                "sampling": {
                    "mode": "random",
                    "seed": 7,
                    "train_counts": {"negative": 10, "positive": 10},
                    "test_counts": {"negative": 5, "positive": 5},
                },
                "hyperparameters": {"suffix": "api", "seed": 3, "learning_rate_multiplier": 0.5},
            },
        ),
    )
    assert as_json.status_code == 202
    assert checked(client, client.get(f"/api/experiments/{exp_id}")).get_json()["status"] == "queued"
    assert len(checked(client, client.get("/api/experiments?limit=5")).get_json()["experiments"]) == 2
    assert checked(client, client.post(f"/api/experiments/{exp_id}/cancel")).status_code == 202
    assert checked(client, client.get(f"/api/experiments/{exp_id}")).get_json()["status"] == "cancelled"


def test_error_bodies_match_the_document(client, sample_csv, store: Store):
    invalid = checked(
        client,
        client.post(
            "/api/experiments",
            data={"file": (io.BytesIO(sample_csv), "t.csv"), "models": [], "learning_rate_multiplier": "-1"},
            content_type="multipart/form-data",
        ),
    )
    assert invalid.status_code == 400 and "learning_rate_multiplier" in invalid.get_json()["fields"]
    assert checked(client, client.post("/api/experiments", json={"models": ["m"]})).status_code == 400
    assert checked(client, client.post("/api/experiments", json={"dataset": "f" * 64})).status_code == 404
    assert checked(client, client.get("/api/experiments/exp_ffffffffffff")).status_code == 404
    assert checked(client, client.post("/api/experiments/exp_ffffffffffff/cancel")).status_code == 404
    too_few = b"text,label\n" + b"".join(b"tweet %d,%s\n" % (i, b"ab"[i % 2 : i % 2 + 1]) for i in range(8))
    report = checked(
        client,
        client.post(
            "/api/experiments",
            data={
                "file": (io.BytesIO(too_few), "few.csv"),
                "models": "local-tfidf",
                "train_count:a": "2",
                "train_count:b": "2",
                "test_count:a": "1",
                "test_count:b": "1",
                "test_offset": "2",
            },
            content_type="multipart/form-data",
        ),
    )
    assert report.status_code == 400 and report.get_json()["report"]["ok"] is False


def test_a_finished_experiment_matches_the_document(client, sample_csv, store: Store):
    exp_id = finished_experiment(store, sample_csv)
    record = checked(client, client.get(f"/api/experiments/{exp_id}")).get_json()
    assert record["status"] == "succeeded" and record["summary"]["best_run"] == "run-1"
    assert all(run["metrics"] and run["predictions"] for run in record["runs"])
    light = checked(client, client.get(f"/api/experiments/{exp_id}?predictions=0")).get_json()
    assert all(run["predictions"] == [] for run in light["runs"])
    assert checked(client, client.get("/api/experiments")).get_json()["experiments"][0]["id"] == exp_id


def test_a_run_with_a_validation_file_and_a_loss_curve_matches_the_document(client, sample_csv, store: Store):
    exp_id = finished_experiment(store, sample_csv)
    store.update_experiment(
        exp_id,
        validation_file={
            "file_id": "file-v",
            "n_examples": 9,
            "bytes": 900,
            "tokens": 90,
            "tokens_exact": True,
            "encoding": "cl100k_base",
            "tokens_note": "",
        },
    )
    store.update_run(
        exp_id,
        "run-1",
        validation_file="file-v",
        loss_curve=[
            {"step": 1, "train_loss": 1.2, "valid_loss": None},
            {"step": 2, "train_loss": 0.9, "valid_loss": 1.0},
        ],
    )
    record = checked(client, client.get(f"/api/experiments/{exp_id}")).get_json()
    assert record["runs"][0]["loss_curve"][1]["valid_loss"] == 1.0 and record["runs"][1]["loss_curve"] == []
    store.update_run(exp_id, "run-1", loss_curve=[{"step": "two", "train_loss": 0.9, "valid_loss": 1.0}])
    with pytest.raises(InvalidData):
        checked(client, client.get(f"/api/experiments/{exp_id}"))


def test_a_record_that_drifted_from_the_types_fails_validation(client, sample_csv, store: Store):
    """The check can fail: a run field the types do not declare, or a required one missing, is refused."""
    exp_id = finished_experiment(store, sample_csv)
    store.update_run(exp_id, "run-1", undeclared="x")
    with pytest.raises(InvalidData):
        checked(client, client.get(f"/api/experiments/{exp_id}"))
    key = f"tq:exp:{exp_id}:run:run-1"
    run: dict[str, Any] = json.loads(store.client.get(key))
    del run["undeclared"], run["progress"]
    store.client.set(key, json.dumps(run))
    with pytest.raises(InvalidData):
        checked(client, client.get(f"/api/experiments/{exp_id}"))


@pytest.mark.slow
def test_a_record_trained_on_the_real_stack_matches_the_document(tq_stack, start_worker, tq_store: Store, sample_csv):
    start_worker(concurrency=2)
    reconfigure(load_settings(tq_stack.env))  # enqueue on this stack's Redis, whatever an earlier test configured
    app = create_app(
        {"SETTINGS": load_settings({**tq_stack.env, "SECRET_KEY": "openapi-test-secret"}), "TESTING": True}
    )
    client = app.test_client()
    sha256 = checked(client, upload_api(client, sample_csv, "tweets.csv")).get_json()["sha256"]
    submitted = checked(
        client,
        client.post(
            "/api/experiments",
            json={
                "dataset": sha256,
                "models": ["local-tfidf"],
                "text_column": "text",
                "label_column": "airline_sentiment",
                "sampling": {
                    "train_counts": {"negative": 10, "neutral": 10, "positive": 10},
                    "test_counts": {"negative": 5, "neutral": 5, "positive": 5},
                },
            },
        ),
    )
    assert submitted.status_code == 202, submitted.get_json()
    exp_id = submitted.get_json()["id"]
    deadline = time.monotonic() + 300  # only so a broken stack fails instead of hanging; not a speed check
    while tq_store.get_experiment(exp_id, with_predictions=False)["status"] not in FINISHED_EXPERIMENT_STATUSES:
        assert time.monotonic() < deadline, tq_store.get_experiment(exp_id, with_predictions=False)
        time.sleep(0.5)
    record = checked(client, client.get(f"/api/experiments/{exp_id}")).get_json()
    (run,) = record["runs"]
    assert record["status"] == "succeeded" and run["fine_tuned_model"].startswith("ft:local-tfidf:")
    assert run["metrics"]["n"] == 15 and len(run["predictions"]) == 15 and record["training_file"]["n_examples"] == 30
    assert checked(client, client.get("/api/experiments")).status_code == 200


def test_records_logged_and_not_logged_to_mlflow_match_the_document(client, sample_csv, store: Store, tmp_path):
    from shared import tracking

    (tmp_path / "a-file").write_text("not a directory")
    for uri, status in (
        (f"sqlite:///{tmp_path}/mlflow.db", "logged"),
        (f"sqlite:///{tmp_path}/a-file/mlflow.db", "failed"),
    ):
        exp_id = finished_experiment(store, sample_csv)
        tracking.track(store, exp_id, load_settings({"MLFLOW_TRACKING_URI": uri}))
        record = checked(client, client.get(f"/api/experiments/{exp_id}")).get_json()
        assert record["mlflow"]["status"] == status, record["mlflow"]
