"""The validation file through the pipeline steps, on the real local_openai and Redis of tests/conftest.py: written
from the validation items, uploaded once, sent as the job's `validation_file`, and the job's losses read back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from shared.dataset_sampling import REFERENCE_TRAIN_COUNTS, SamplingSpec
from shared.fine_tune_job import job_request, poll_fine_tune, start_fine_tune
from shared.prepare import load_split, prepare
from shared.records import ExperimentSpec
from shared.store import Store
from shared.upload import upload

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "shared" / "sample_data" / "airline_tweets_sample.csv"


def experiment_with_validation(store: Store, validation_count: int) -> str:
    sha = store.put_dataset(SAMPLE_CSV.read_bytes(), SAMPLE_CSV.name)
    sampling = SamplingSpec(
        train_counts=dict(REFERENCE_TRAIN_COUNTS),
        train_offset=0,
        test_counts={label: 4 for label in REFERENCE_TRAIN_COUNTS},
        test_offset=100,
        validation_count=validation_count,
    )
    spec = ExperimentSpec(
        dataset_sha256=sha,
        dataset_name=SAMPLE_CSV.name,
        dataset_path=None,
        text_column="text",
        label_column="airline_sentiment",
        models=["local-tfidf"],
        sampling=sampling,
    )
    exp_id = store.create_experiment(spec, "http://provider.invalid/v1")
    prepare(store, exp_id)
    return exp_id


@pytest.fixture
def client(tq_stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)


def test_the_validation_items_are_uploaded_once_and_sent_as_the_jobs_validation_file(client, tq_store):
    exp_id = experiment_with_validation(tq_store, validation_count=3)
    split = load_split(tq_store, exp_id)
    assert len(split.validation) == 9 and tq_store.get_experiment(exp_id)["split"]["validation_counts"] == {
        "negative": 3,
        "neutral": 3,
        "positive": 3,
    }

    training_id = upload(tq_store, client, exp_id)
    record = tq_store.get_experiment(exp_id)
    validation_id = record["validation_file"]["file_id"]
    assert record["training_file"]["file_id"] == training_id != validation_id
    assert record["validation_file"]["n_examples"] == 9
    lines = client.files.content(validation_id).content.decode().splitlines()
    assert [json.loads(line)["messages"][-1]["content"] for line in lines] == [
        item.label for item in split.validation
    ], "one chat per validation item, answered with its label"
    assert client.files.retrieve(validation_id).purpose == "fine-tune"

    assert upload(tq_store, client, exp_id) == training_id
    assert tq_store.get_experiment(exp_id)["validation_file"]["file_id"] == validation_id, "uploaded only once"

    job_id = start_fine_tune(tq_store, client, exp_id, "run-1", training_id, deadline_s=600)
    assert client.fine_tuning.jobs.retrieve(job_id).validation_file == validation_id
    assert tq_store.get_run(exp_id, "run-1")["validation_file"] == validation_id

    while not poll_fine_tune(tq_store, client, exp_id, "run-1", job_id).finished:
        time.sleep(0.2)
    curve = tq_store.get_run(exp_id, "run-1")["loss_curve"]
    assert curve and all(point["valid_loss"] is not None for point in curve), curve
    assert [point["step"] for point in curve] == sorted({point["step"] for point in curve}), "no duplicate steps"


def test_without_validation_count_no_validation_file_is_made_or_sent(client, tq_store):
    exp_id = experiment_with_validation(tq_store, validation_count=0)
    training_id = upload(tq_store, client, exp_id)
    record = tq_store.get_experiment(exp_id)
    assert record["validation_file"] is None
    request = job_request(record, record["runs"][0], training_id)
    assert "validation_file" not in request
    job_id = start_fine_tune(tq_store, client, exp_id, "run-1", training_id, deadline_s=600)
    assert client.fine_tuning.jobs.retrieve(job_id).validation_file is None
    assert tq_store.get_run(exp_id, "run-1")["validation_file"] is None
