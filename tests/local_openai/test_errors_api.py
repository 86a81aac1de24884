"""OpenAI's error shape and status codes: 400, 401, 404 (the SDK maps each to its own exception class)."""

from __future__ import annotations

import json
import time
import urllib.request

import openai
import pytest
from local_server import fine_tune, labelled_texts, training_file, wait_for_job


def _error_body(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_unknown_job_is_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.retrieve("ftjob-missing")
    assert caught.value.status_code == 404 and caught.value.type == "invalid_request_error"
    _error_body(caught.value.response)


def test_unknown_file_and_model_are_404(client):
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-missing")
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="ft:nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found" and caught.value.param == "model"


def test_classifier_base_model_cannot_chat(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="local-tfidf", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.param == "model" and "fine-tuning" in caught.value.message


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"model": "gpt-9"}, "model"),
        ({"model": "local-tfidf", "hyperparameters": {"n_epochs": -1}}, "hyperparameters.n_epochs"),
        ({"model": "local-tfidf", "suffix": "x" * 65}, "suffix"),
    ],
)
def test_bad_job_requests_are_400_naming_the_parameter(client, kwargs, param):
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(4, seed=1))), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(training_file=uploaded.id, **kwargs)
    assert caught.value.param == param


def test_missing_training_file_is_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(training_file="file-missing", model="local-tfidf")
    assert caught.value.param == "training_file"


def test_bad_purpose_and_bad_chat_parameters(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("a.jsonl", b"{}"), purpose="nonsense")
    assert _error_body(caught.value.response)["param"] == "purpose"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="local-tfidf", messages=[])
    assert _error_body(caught.value.response)["param"] == "messages"
    with pytest.raises(openai.NotFoundError) as caught:
        client.get("/no/such/route", cast_to=object)
    _error_body(caught.value.response)


@pytest.mark.parametrize(
    "logit_bias",
    [
        ["50256"],  # not an object
        {"abc": 1},  # not a token id
        {"-1": 1},
        {"1.5": 1},
        {"50256": 101},  # out of range
        {"50256": "1"},
        {"50256": True},
        {str(i): 1 for i in range(301)},  # more entries than OpenAI allows
    ],
)
def test_bad_logit_bias_is_400_naming_it(client, logit_bias):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="local-tfidf", messages=[{"role": "user", "content": "hi"}], logit_bias=logit_bias
        )
    assert _error_body(caught.value.response)["param"] == "logit_bias"


def test_api_key_required_when_configured(start_server):
    server = start_server(env={"LOCAL_OPENAI_API_KEY": "sk-local-test"})
    with pytest.raises(openai.AuthenticationError) as caught:
        server.client(api_key="wrong").models.list()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    _error_body(caught.value.response)
    assert [m.id for m in server.client(api_key="sk-local-test").models.list()]
    with urllib.request.urlopen(server.url.removesuffix("/v1") + "/healthz") as response:  # probes need no key
        assert json.load(response)["status"] == "ok"
    assert "sk-local-test" not in "".join(server.output)


def test_a_crash_answers_a_generic_500_and_the_traceback_stays_in_the_log(start_server):
    server = start_server()
    client = server.client()
    job = fine_tune(client, "local-tfidf", labelled_texts(4, seed=1))
    for path in (server.data_dir / "models" / job.id / "final").iterdir():
        path.unlink()  # the model's files vanished from disk
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "hi"}])
    error = _error_body(caught.value.response)
    assert error["type"] == "server_error" and "server log" in error["message"]
    assert str(server.data_dir) not in error["message"] and "Error" not in error["message"]
    for _ in range(100):  # the server's output is read by a thread: give it the moment to arrive
        if "Traceback" in "".join(server.output):
            break
        time.sleep(0.1)
    assert "Traceback" in "".join(server.output) and str(server.data_dir) in "".join(server.output)


def test_a_job_that_crashes_reports_a_generic_error(start_server):
    server = start_server()
    client = server.client()
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(4, seed=1))), purpose="fine-tune")
    (server.data_dir / "files" / f"{uploaded.id}.bin").unlink()
    job = wait_for_job(client, client.fine_tuning.jobs.create(training_file=uploaded.id, model="local-tfidf").id)
    assert job.status == "failed" and job.error.code == "internal_error"
    assert str(server.data_dir) not in job.error.message and "Error" not in job.error.message
    assert "server log" in job.error.message
    assert all(str(server.data_dir) not in e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100))


def test_a_problem_with_the_training_data_is_still_reported_as_is(client):
    job = fine_tune(client, "local-tfidf", [(text, "positive") for text, _ in labelled_texts(4, seed=1)])
    assert job.status == "failed" and "two different assistant answers" in job.error.message
