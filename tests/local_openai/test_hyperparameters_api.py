"""Job creation refuses hyperparameters and seeds outside the ranges OpenAI documents, in OpenAI's error shape."""

from __future__ import annotations

import json

import openai
import pytest
from local_server import labelled_texts, post_raw, training_file

BAD = [
    ("n_epochs", 100000),
    ("n_epochs", 0),
    ("n_epochs", 51),
    ("n_epochs", 2.5),
    ("n_epochs", "3"),
    ("n_epochs", True),
    ("batch_size", 10**7),
    ("batch_size", 257),
    ("batch_size", 0),
    ("batch_size", [8]),
    ("learning_rate_multiplier", 1e9),
    ("learning_rate_multiplier", 10.5),
    ("learning_rate_multiplier", 0),
    ("learning_rate_multiplier", -1),
    ("learning_rate_multiplier", "fast"),
]


@pytest.fixture(scope="module")
def file_id(client) -> str:
    return client.files.create(file=("t.jsonl", training_file(labelled_texts(4, seed=1))), purpose="fine-tune").id


def _refused(call) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    error = caught.value.response.json()["error"]
    assert caught.value.status_code == 400 and error["type"] == "invalid_request_error"
    return caught.value


@pytest.mark.parametrize("name, value", BAD)
def test_out_of_range_or_mistyped_hyperparameters_are_refused_at_creation(client, file_id, name, value):
    error = _refused(
        lambda: client.fine_tuning.jobs.create(
            training_file=file_id, model="local-tfidf", hyperparameters={name: value}
        )
    )
    assert error.param == f"hyperparameters.{name}"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("name", ["n_epochs", "batch_size", "learning_rate_multiplier"])
def test_nan_and_infinity_are_refused(server, file_id, name, literal):
    """Python's json reads these non-standard literals as floats; the SDK cannot send them, so a raw body does."""
    body = json.dumps({"training_file": file_id, "model": "local-tfidf", "hyperparameters": {name: 0}})
    status, answer = post_raw(f"{server.url}/fine_tuning/jobs", body.replace("0}", literal + "}").encode())
    assert status == 400 and answer["error"]["param"] == f"hyperparameters.{name}"


@pytest.mark.parametrize("name, value", [("n_epochs", 100000), ("learning_rate_multiplier", 1e9)])
def test_method_supervised_hyperparameters_are_checked_the_same_way(client, file_id, name, value):
    method = {"type": "supervised", "supervised": {"hyperparameters": {name: value}}}
    error = _refused(lambda: client.fine_tuning.jobs.create(training_file=file_id, model="local-tfidf", method=method))
    assert error.param == f"method.supervised.hyperparameters.{name}"


@pytest.mark.parametrize("seed", [-1, 2**31, 1.5, "7", True])
def test_seed_outside_0_to_2_31_minus_1_is_refused(client, file_id, seed):
    error = _refused(lambda: client.fine_tuning.jobs.create(training_file=file_id, model="local-tfidf", seed=seed))
    assert error.param == "seed"


def test_limits_and_auto_are_accepted(client, file_id):
    hyperparameters = {"n_epochs": 50, "batch_size": 256, "learning_rate_multiplier": 10}
    job = client.fine_tuning.jobs.create(
        training_file=file_id, model="local-tfidf", seed=2**31 - 1, hyperparameters=hyperparameters
    )
    assert job.seed == 2**31 - 1 and job.hyperparameters.n_epochs == 50 and job.hyperparameters.batch_size == 256
    job = client.fine_tuning.jobs.create(
        training_file=file_id,
        model="local-tfidf",
        seed=0,
        hyperparameters={"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": 1e-6},
    )
    assert job.seed == 0 and job.hyperparameters.n_epochs == "auto"
