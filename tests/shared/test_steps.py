"""shared/steps.py called directly: retry/backoff rules, resumable evaluation, idempotent job creation.

Provider faults (429 with Retry-After, 500) come from `StubChat`, a tiny real HTTP server standing in for the
provider's chat endpoint, because local_openai never answers 429/500 on demand; everything else runs against real
Redis and, for fine-tuning, the real local_openai from tests/conftest.py.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest

from shared import steps
from shared.dataset import REFERENCE_TRAIN_COUNTS, SamplingSpec
from shared.prompts import PRESETS
from shared.records import ExperimentSpec

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "shared" / "sample_data" / "airline_tweets_sample.csv"


class StubChat:
    """Answers POST /v1/chat/completions: first the queued (status, headers) faults, then 200 with `answer`."""

    def __init__(self, faults: list[tuple[int, dict]] | None = None, answer: str = "Negative."):
        self.faults = list(faults or [])
        self.answer = answer
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                status, headers = stub.faults.pop(0) if stub.faults else (200, {})
                payload = {"error": {"message": "slow down", "type": "rate_limit"}} if status != 200 else {
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": stub.answer}}]}
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.client = openai.OpenAI(base_url=f"http://127.0.0.1:{self.server.server_address[1]}/v1",
                                    api_key="unused", max_retries=0, timeout=5)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    stubs: list[StubChat] = []

    def make(*args, **kwargs) -> StubChat:
        stubs.append(StubChat(*args, **kwargs))
        return stubs[-1]

    yield make
    for made in stubs:
        made.close()


def prepared_experiment(store, models=("local-tfidf",), zero_shot=(), test_per_class: int = 4) -> str:
    sha = store.put_dataset(SAMPLE_CSV.read_bytes(), SAMPLE_CSV.name)
    sampling = SamplingSpec(train_counts=dict(REFERENCE_TRAIN_COUNTS), train_offset=0,
                            test_counts={label: test_per_class for label in REFERENCE_TRAIN_COUNTS}, test_offset=100)
    spec = ExperimentSpec(dataset_sha256=sha, dataset_name=SAMPLE_CSV.name, dataset_path=None, text_column="text",
                          label_column="airline_sentiment", models=list(models), zero_shot=list(zero_shot),
                          sampling=sampling)
    exp_id = store.create_experiment(spec, "http://provider.invalid/v1")
    steps.prepare(store, exp_id)
    return exp_id


def record_sleeps() -> tuple[list[float], steps.RequestPolicy]:
    slept: list[float] = []
    return slept, steps.RequestPolicy(max_retries=3, first_backoff_s=0.5, max_backoff_s=30, sleep=slept.append)


def test_backoff_doubles_up_to_the_cap():
    assert [steps.backoff_s(n, 1.0, 5.0, jitter=0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert 0.9 <= steps.backoff_s(0, 1.0, 5.0) <= 1.1


def provider_error(stub, status: int, headers: dict) -> openai.APIStatusError:
    provider = stub(faults=[(status, headers)])
    with pytest.raises(openai.APIStatusError) as caught:
        provider.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    return caught.value


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
    ({}, None),
])
def test_retry_after_reads_the_provider_headers(stub, headers, expected):
    assert steps.retry_after_s(provider_error(stub, 429, headers)) == expected


def test_retry_after_accepts_an_http_date(stub):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= steps.retry_after_s(provider_error(stub, 503, {"Retry-After": when})) <= 30


def test_only_rate_limits_server_errors_and_timeouts_are_retryable(stub):
    assert steps.is_retryable(provider_error(stub, 429, {}))
    assert steps.is_retryable(provider_error(stub, 502, {}))
    assert not steps.is_retryable(provider_error(stub, 400, {}))
    assert not steps.is_retryable(provider_error(stub, 404, {}))


def test_ask_waits_as_told_by_retry_after_then_backs_off(stub):
    provider = stub(faults=[(429, {"Retry-After": "7"}), (500, {})])
    slept, policy = record_sleeps()
    answer = steps.ask(provider.client, "m", [{"role": "user", "content": "hi"}], PRESETS["reference"], policy)
    assert answer == "Negative."
    assert len(provider.requests) == 3
    assert slept[0] == 7.0 and 0.9 <= slept[1] <= 1.1  # second retry: 0.5 s * 2


def test_ask_gives_up_after_max_retries_and_never_retries_a_400(stub):
    provider = stub(faults=[(503, {})] * 10)
    slept, policy = record_sleeps()
    with pytest.raises(openai.InternalServerError):
        steps.ask(provider.client, "m", [{"role": "user", "content": "hi"}], PRESETS["reference"], policy)
    assert len(provider.requests) == 4 and len(slept) == 3

    bad = stub(faults=[(400, {})])
    with pytest.raises(openai.BadRequestError):
        steps.ask(bad.client, "m", [{"role": "user", "content": "hi"}], PRESETS["reference"], policy)
    assert len(bad.requests) == 1


def test_evaluate_asks_only_for_missing_items_and_scores_stored_predictions(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    split = steps.load_split(store, exp_id)
    done_before = split.test[:5]
    for item in done_before:
        store.save_prediction(exp_id, "run-1", {"row": item.row, "expected": item.label, "output": item.label,
                                                "predicted": item.label})
    provider = stub(answer="Sentiment: negative")
    progress = steps.evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=3, budget_s=60)
    assert progress == steps.EvalProgress(12, 12)
    asked = {request["messages"][-1]["content"] for request in provider.requests}
    assert len(provider.requests) == 7
    assert not any(item.text in message for item in done_before for message in asked)
    run = store.get_run(exp_id, "run-1")
    expected_correct = 5 + sum(1 for item in split.test[5:] if item.label == "negative")
    assert run["status"] == "succeeded"
    assert run["metrics"]["accuracy"] == pytest.approx(expected_correct / 12)
    assert run["progress"] == {"done": 12, "total": 12}


def test_evaluate_stops_starting_requests_after_its_budget(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    provider = stub()
    progress = steps.evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=1, budget_s=0)
    assert progress == steps.EvalProgress(0, 12) and provider.requests == []
    assert store.get_run(exp_id, "run-1")["status"] == "evaluating"


def test_evaluate_turns_a_rejected_request_into_a_run_error(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    provider = stub(faults=[(404, {})] * 20)
    with pytest.raises(steps.StepError, match="m could not answer: the provider answered 404"):
        steps.evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=1, budget_s=60)


def test_start_fine_tune_creates_one_job_and_finds_it_again(tq_stack, tq_store):
    client = openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
    exp_id = prepared_experiment(tq_store)
    file_id = steps.upload(tq_store, client, exp_id)
    assert steps.upload(tq_store, client, exp_id) == file_id  # uploaded once

    job_id = steps.start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600)
    assert steps.start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600) == job_id

    # An earlier attempt whose response was lost: the job exists at the provider, its id is not in the store.
    tq_store.update_run(exp_id, "run-1", job_id=None)
    assert steps.start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600) == job_id
    jobs = list(client.fine_tuning.jobs.list(metadata=steps.job_metadata(exp_id, "run-1")))
    assert [job.id for job in jobs] == [job_id]
    run = tq_store.get_run(exp_id, "run-1")
    assert run["status"] == "fine_tuning" and run["deadline_at"] > 0


def test_poll_fails_a_job_past_its_deadline_and_cancels_it(tq_stack, tq_store):
    client = openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
    exp_id = prepared_experiment(tq_store, models=("local-minilm",))
    file_id = steps.upload(tq_store, client, exp_id)
    job_id = steps.start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=1, clock=lambda: 0.0)
    with pytest.raises(steps.StepError, match="deadline"):
        steps.poll_fine_tune(tq_store, client, exp_id, "run-1", job_id, clock=lambda: 2.0)
    assert client.fine_tuning.jobs.retrieve(job_id).status in ("cancelled", "succeeded")


def test_summarize_keeps_the_failed_runs_in_the_table(store):
    exp_id = prepared_experiment(store, models=("a", "b"))
    store.update_run(exp_id, "run-1", status="failed", error="model 'a' is not available")
    store.update_run(exp_id, "run-2", status="succeeded", metrics={"accuracy": 0.5, "macro_f1": 0.4, "invalid": 1})
    result = steps.summarize(store, exp_id)
    record = store.get_experiment(exp_id)
    assert result["best_run"] == "run-2"
    assert [row["status"] for row in result["table"]] == ["failed", "succeeded"]
    assert record["status"] == "failed" and "model 'a' is not available" in record["error"]
    assert record["finished_at"]


def test_training_time_starts_at_the_providers_started_event_not_at_job_creation(tq_stack, tq_store):
    client = openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
    exp_id = prepared_experiment(tq_store, models=("local-tfidf",))
    file_id = steps.upload(tq_store, client, exp_id)
    job_id = steps.start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600)
    while not (result := steps.poll_fine_tune(tq_store, client, exp_id, "run-1", job_id)).finished:
        time.sleep(0.2)
    job = client.fine_tuning.jobs.retrieve(job_id)
    started = steps.training_started_at(client, job_id)
    assert started is not None and job.created_at <= started <= job.finished_at
    run = tq_store.get_run(exp_id, "run-1")
    assert run["fine_tuned_model"] == result.model
    assert run["training_seconds"] == round(job.finished_at - started, 1)
    assert steps.training_started_at(client, "ftjob-unknown") is None
