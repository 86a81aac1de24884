"""Uploads in every format through the API: stored under their name, read again in that format by the prepare step
(real Redis), broken files a 400 saying what and where, the column and size caps kept. The slow tests run a Parquet
and a JSON Lines upload end to end on the real stack (web API, Celery worker, local_openai training local-tfidf)."""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest

from shared.prepare import prepare
from shared.settings import load_settings
from shared.store import Store
from web import create_app
from worker.celery_app import reconfigure

TERMINAL = ("succeeded", "failed", "cancelled")


def encoded(frame: pd.DataFrame, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "parquet":
        frame.to_parquet(buffer, engine="pyarrow", index=False)
    elif fmt == "jsonl":
        frame.to_json(buffer, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(buffer, index=False, sep="\t" if fmt == "tsv" else ",")
    return buffer.getvalue()


def upload(client, data: bytes, name: str):
    return client.post("/api/datasets", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


@pytest.fixture
def tweets(sample_csv: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(sample_csv), dtype=str, keep_default_na=False)


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "parquet"])
def test_an_upload_in_any_format_is_prepared_like_the_csv(fmt, client, store: Store, sample_csv, tweets):
    name = f"tweets.{fmt}"
    uploaded = upload(client, encoded(tweets, fmt), name)
    assert uploaded.status_code == 201, uploaded.get_json()
    sha256 = uploaded.get_json()["sha256"]
    assert store.dataset_name(sha256) == name
    summary = client.get(f"/datasets/{sha256}/summary.json?text_column=text&label_column=airline_sentiment")
    assert summary.status_code == 200 and summary.get_json()["n_rows"] == len(tweets)
    ids = []
    for body in ({"dataset": sha256}, {"dataset": upload(client, sample_csv, "tweets.csv").get_json()["sha256"]}):
        response = client.post(
            "/api/experiments",
            json={**body, "models": ["local-tfidf"], "text_column": "text", "label_column": "airline_sentiment"},
        )
        assert response.status_code == 202, response.get_json()
        ids.append(response.get_json()["id"])
    splits = [prepare(store, exp_id) for exp_id in ids]
    assert splits[0] == splits[1]
    records = [store.get_experiment(exp_id) for exp_id in ids]
    assert records[0]["dataset"]["name"] == name
    assert records[0]["dataset"]["class_counts"] == records[1]["dataset"]["class_counts"]


@pytest.mark.parametrize(
    "data, name, message",
    [
        (
            b'{"text": "a", "airline_sentiment": "x"}\n{"text": "b", "airline_sentiment": \n',
            "bad.jsonl",
            "Line 2 of the JSON Lines file is not valid JSON",
        ),
        (b'{"text": "a"}\n"just a string"\n', "bad.ndjson", "Line 2 of the JSON Lines file holds a JSON str"),
        (b"PAR1" + b"\x00" * 64 + b"PAR1", "bad.parquet", "not a readable Parquet file"),
        (b"text,label\nx,a\n", "bad.parquet", "not a Parquet file"),
    ],
)
def test_a_broken_file_is_a_400_saying_what_and_where(client, store: Store, data, name, message):
    response = upload(client, data, name)
    assert response.status_code == 400 and message in response.get_json()["fields"]["file"]
    submitted = client.post(
        "/api/experiments",
        data={"file": (io.BytesIO(data), name), "models": "local-tfidf"},
        content_type="multipart/form-data",
    )
    assert submitted.status_code == 400 and message in submitted.get_json()["fields"]["file"]
    assert store.list_datasets() == []


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_the_column_cap_holds_for_every_format(fmt, make_app, store: Store):
    client = make_app(TQ_MAX_COLUMNS="3").test_client()
    wide = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"], "c": ["1", "2"], "d": ["3", "4"]})
    response = upload(client, encoded(wide, fmt), f"wide.{fmt}")
    assert response.status_code == 400 and "TQ_MAX_COLUMNS" in response.get_json()["fields"]["file"]
    assert store.list_datasets() == []


def test_the_upload_size_cap_holds_for_parquet(client, settings_environ, store: Store):
    rows = int(settings_environ["TQ_MAX_UPLOAD_BYTES"]) // 10
    noise = pd.DataFrame(
        {"text": [f"{i:x}{i * 7919:x}{i * 104729:x}" for i in range(rows)], "label": ["a", "b"] * (rows // 2)}
    )
    data = encoded(noise, "parquet")
    assert len(data) > int(settings_environ["TQ_MAX_UPLOAD_BYTES"])
    response = upload(client, data, "big.parquet")
    assert response.status_code == 413 and store.list_datasets() == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_jsonl_uploads_run_end_to_end(fmt, tq_stack, start_worker, tq_store: Store, tweets):
    start_worker(concurrency=2)
    reconfigure(load_settings(tq_stack.env))  # enqueue on this stack's Redis, whatever an earlier test configured
    app = create_app(
        {"SETTINGS": load_settings({**tq_stack.env, "SECRET_KEY": "formats-test-secret"}), "TESTING": True}
    )
    client = app.test_client()
    uploaded = upload(client, encoded(tweets, fmt), f"tweets.{fmt}")
    assert uploaded.status_code == 201, uploaded.get_json()
    response = client.post(
        "/api/experiments",
        json={
            "dataset": uploaded.get_json()["sha256"],
            "models": ["local-tfidf"],
            "text_column": "text",
            "label_column": "airline_sentiment",
        },
    )
    assert response.status_code == 202, response.get_json()
    exp_id = response.get_json()["id"]
    deadline = time.monotonic() + 300  # only so a broken stack fails instead of hanging; not a speed check
    while tq_store.get_experiment(exp_id, with_predictions=False)["status"] not in TERMINAL:
        assert time.monotonic() < deadline, tq_store.get_experiment(exp_id, with_predictions=False)
        time.sleep(0.5)
    record = client.get(f"/api/experiments/{exp_id}").get_json()
    assert record["status"] == "succeeded", record
    assert record["dataset"]["name"] == f"tweets.{fmt}" and record["dataset"]["n_rows"] == len(tweets)
    (run,) = record["runs"]
    assert run["status"] == "succeeded" and run["fine_tuned_model"].startswith("ft:local-tfidf:")
    assert run["metrics"]["n"] == 100 and len(run["predictions"]) == 100
