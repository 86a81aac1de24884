"""Upload -> fine-tune -> events -> checkpoints -> chat, over real HTTP with the official SDK (local-tfidf: fast)."""

from __future__ import annotations

import csv
import io

import openai
import pytest
from local_server import accuracy, fine_tune, labelled_texts, training_file, wait_for_job


@pytest.fixture(scope="module")
def tuned(client):
    return fine_tune(
        client, "local-tfidf", labelled_texts(12, seed=1), suffix="unit", seed=7, metadata={"experiment": "exp_a"}
    )


def test_job_succeeds_with_openai_fields(tuned):
    assert tuned.status == "succeeded", tuned.error
    assert tuned.fine_tuned_model == f"ft:local-tfidf:local:unit:{tuned.id.split('-', 1)[1][:8]}"
    assert tuned.trained_tokens and tuned.trained_tokens > 0
    assert tuned.finished_at >= tuned.created_at
    assert tuned.seed == 7
    assert tuned.metadata == {"experiment": "exp_a"}
    assert isinstance(tuned.hyperparameters.n_epochs, int)


def test_events_report_validation_metrics_and_completion(client, tuned):
    events = list(client.fine_tuning.jobs.list_events(tuned.id, limit=100))
    messages = [e.message for e in events]
    assert any(m.startswith("Validated training file") and "36 examples" in m for m in messages)
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and "train_loss" in metrics[0].data and "train_mean_token_accuracy" in metrics[0].data
    assert messages[0].startswith("The job has successfully completed")  # newest first, like OpenAI


def test_result_file_is_a_metrics_csv(client, tuned):
    (file_id,) = tuned.result_files
    assert client.files.retrieve(file_id).purpose == "fine-tune-results"
    rows = list(csv.DictReader(io.StringIO(client.files.content(file_id).text)))
    assert rows and float(rows[-1]["train_loss"]) >= 0 and rows[-1]["step"] == "1"


def test_fine_tuned_model_answers_in_both_formats(client, tuned):
    held_out = labelled_texts(5, seed=99)
    assert accuracy(client, tuned.fine_tuned_model, held_out, templated=False) >= 0.9
    assert accuracy(client, tuned.fine_tuned_model, held_out, templated=True) >= 0.9


def test_chat_completion_shape_and_usage(client, tuned):
    answer = client.chat.completions.create(
        model=tuned.fine_tuned_model,
        messages=[{"role": "user", "content": "The crew was wonderful today"}],
        temperature=0,
        max_completion_tokens=5,
    )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "positive"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens == 1
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_checkpoints_are_listed_and_usable(client, tuned):
    checkpoints = client.fine_tuning.jobs.checkpoints.list(tuned.id).data
    assert checkpoints
    name = checkpoints[0].fine_tuned_model_checkpoint
    assert name.startswith(tuned.fine_tuned_model + ":ckpt-step-")
    assert client.models.retrieve(name).id == name
    answer = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "The seat was broken today"}]
    )
    assert answer.choices[0].message.content == "negative"


def test_models_lists_base_and_fine_tuned(client, tuned):
    ids = [m.id for m in client.models.list()]
    assert "local-tfidf" in ids and "local-minilm" in ids and tuned.fine_tuned_model in ids


def test_invalid_jsonl_fails_validation_naming_the_line(client):
    lines = training_file(labelled_texts(4, seed=2)).decode().splitlines()
    lines[2] = '{"messages": [{"role": "user", "content": "no answer here"}]}'
    lines[4] = "{not json"
    uploaded = client.files.create(file=("bad.jsonl", ("\n".join(lines) + "\n").encode()), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(training_file=uploaded.id, model="local-tfidf")
    assert job.status == "validating_files"
    job = wait_for_job(client, job.id)
    assert job.status == "failed"
    assert job.error.param == "training_file"
    assert "line 3" in job.error.message and "assistant" in job.error.message
    assert "line 5" in job.error.message and "not valid JSON" in job.error.message
    assert job.fine_tuned_model is None
    errors = [e for e in client.fine_tuning.jobs.list_events(job.id) if e.level == "error"]
    assert errors and "line 3" in errors[0].message


def test_too_few_examples_fails_validation(client):
    uploaded = client.files.create(file=("small.jsonl", training_file(labelled_texts(2, seed=3))), purpose="fine-tune")
    job = wait_for_job(client, client.fine_tuning.jobs.create(training_file=uploaded.id, model="local-tfidf").id)
    assert job.status == "failed" and "at least 10" in job.error.message


def test_method_supervised_hyperparameters_are_used(client):
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(4, seed=4))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        training_file=uploaded.id,
        model="local-tfidf",
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    job = wait_for_job(client, job.id)
    assert job.status == "succeeded" and job.hyperparameters.n_epochs == 2


@pytest.mark.parametrize("shape", ["method", "deprecated top-level hyperparameters"])
def test_job_reports_method_like_openai_however_it_was_created(client, shape):
    """OpenAI reports `method` on every job, with the hyperparameters used, and still the top-level copy."""
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(4, seed=6))), purpose="fine-tune")
    requested = {"n_epochs": 2, "learning_rate_multiplier": 0.5}
    if shape == "method":
        kwargs = {"method": {"type": "supervised", "supervised": {"hyperparameters": requested}}}
    else:
        kwargs = {"hyperparameters": requested}
    created = client.fine_tuning.jobs.create(training_file=uploaded.id, model="local-tfidf", **kwargs)
    assert created.method is not None and created.method.type == "supervised"
    assert created.method.supervised.hyperparameters.n_epochs == 2
    assert created.method.supervised.hyperparameters.batch_size == "auto"
    assert created.hyperparameters.model_dump() == created.method.supervised.hyperparameters.model_dump()

    job = wait_for_job(client, created.id)
    assert job.status == "succeeded", job.error
    used = job.method.supervised.hyperparameters
    assert (used.n_epochs, used.learning_rate_multiplier) == (2, 0.5)
    assert isinstance(used.batch_size, int)  # "auto" resolved, as OpenAI reports it once training starts
    assert job.hyperparameters.model_dump() == used.model_dump()


def test_delete_fine_tuned_model(client):
    job = fine_tune(client, "local-tfidf", labelled_texts(4, seed=5))
    deleted = client.models.delete(job.fine_tuned_model)
    assert deleted.deleted and deleted.id == job.fine_tuned_model
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(job.fine_tuned_model)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "hi"}])


def test_every_response_validates_strictly_against_the_sdk_types(client, tuned):
    """The SDK builds its objects without validation; validate the raw JSON so a wrong field type cannot slip by."""
    from openai.types import FileDeleted, FileObject, Model, ModelDeleted
    from openai.types.chat import ChatCompletion
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

    jobs = client.fine_tuning.jobs.with_raw_response
    FineTuningJob.model_validate(jobs.retrieve(tuned.id).http_response.json())
    for item in jobs.list(limit=3).http_response.json()["data"]:
        FineTuningJob.model_validate(item)
    for item in jobs.list_events(tuned.id, limit=100).http_response.json()["data"]:
        FineTuningJobEvent.model_validate(item)
    for item in client.fine_tuning.jobs.checkpoints.with_raw_response.list(tuned.id).http_response.json()["data"]:
        FineTuningJobCheckpoint.model_validate(item)
    for item in client.files.with_raw_response.list().http_response.json()["data"]:
        FileObject.model_validate(item)
    for item in client.models.with_raw_response.list().http_response.json()["data"]:
        Model.model_validate(item)
    chat = client.chat.completions.with_raw_response.create(
        model=tuned.fine_tuned_model, messages=[{"role": "user", "content": "The app was useless today"}]
    )
    ChatCompletion.model_validate(chat.http_response.json())
    uploaded = client.files.create(file=("x.jsonl", training_file(labelled_texts(4, seed=6))), purpose="fine-tune")
    FileDeleted.model_validate(client.files.with_raw_response.delete(uploaded.id).http_response.json())
    job = fine_tune(client, "local-tfidf", labelled_texts(4, seed=7))
    ModelDeleted.model_validate(client.models.with_raw_response.delete(job.fine_tuned_model).http_response.json())


def test_validation_file_adds_validation_metrics(client):
    train = client.files.create(file=("t.jsonl", training_file(labelled_texts(6, seed=20))), purpose="fine-tune")
    valid = client.files.create(file=("v.jsonl", training_file(labelled_texts(3, seed=21))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(training_file=train.id, validation_file=valid.id, model="local-tfidf")
    job = wait_for_job(client, job.id)
    assert job.status == "succeeded" and job.validation_file == valid.id
    (metrics,) = [e.data for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"]
    assert metrics["valid_loss"] > 0 and 0 <= metrics["valid_mean_token_accuracy"] <= 1
    rows = list(csv.DictReader(io.StringIO(client.files.content(job.result_files[0]).text)))
    assert float(rows[-1]["valid_loss"]) == pytest.approx(metrics["valid_loss"])
