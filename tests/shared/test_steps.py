"""The pipeline steps called directly: retry rules, resumable evaluation, the run lease, idempotent job creation.

Provider faults (429 with Retry-After, 500) come from `StubChat`, a tiny real HTTP server standing in for the
provider's chat endpoint, because local_openai never answers 429/500 on demand; everything else runs against real
Redis and, for fine-tuning, the real local_openai from tests/conftest.py.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest

from shared.dataset_sampling import REFERENCE_TRAIN_COUNTS, SamplingSpec
from shared.estimates import prelaunch_report
from shared.evaluate import CallLimits, EvalProgress, ask, evaluate
from shared.fine_tune_job import (
    FINISH_POLL_S,
    MIN_POLL_S,
    job_metadata,
    job_request,
    poll_countdown_s,
    poll_fine_tune,
    start_fine_tune,
    training_started_at,
)
from shared.metrics import make_prediction
from shared.prepare import load_split, prepare
from shared.pricing import PRICES_AS_OF, inference_cost
from shared.prompts import PRESETS
from shared.provider import make_client
from shared.provider_errors import is_retryable, retry_after_s
from shared.records import ExperimentSpec
from shared.retries import SDK_FIRST_RETRY_WAIT_S, SDK_MAX_RETRY_WAIT_S, backoff_s, call_bound_s, fit_call
from shared.run_lease import RunLease
from shared.run_state import Busy, StepError
from shared.settings import Settings, load_settings
from shared.summary import summarize
from shared.upload import upload

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "shared" / "sample_data" / "airline_tweets_sample.csv"


class StubChat:
    """Answers POST /v1/chat/completions: first the queued (status, headers) faults, then 200 with `answer`."""

    def __init__(
        self, faults: list[tuple[int, dict]] | None = None, answer: str = "Negative.", usage: dict | None = None
    ):
        self.faults = list(faults or [])
        self.answer = answer
        self.usage = usage
        self.requests: list[dict] = []
        self.times: list[float] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                stub.times.append(time.monotonic())
                status, headers = stub.faults.pop(0) if stub.faults else (200, {})
                payload = (
                    {"error": {"message": "slow down", "type": "rate_limit"}}
                    if status != 200
                    else {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": stub.answer},
                            }
                        ],
                        **({"usage": stub.usage} if stub.usage else {}),
                    }
                )
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
        self.client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{self.server.server_address[1]}/v1", api_key="unused", max_retries=0, timeout=5
        )

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
    sampling = SamplingSpec(
        train_counts=dict(REFERENCE_TRAIN_COUNTS),
        train_offset=0,
        test_counts={label: test_per_class for label in REFERENCE_TRAIN_COUNTS},
        test_offset=100,
    )
    spec = ExperimentSpec(
        dataset_sha256=sha,
        dataset_name=SAMPLE_CSV.name,
        dataset_path=None,
        text_column="text",
        label_column="airline_sentiment",
        models=list(models),
        zero_shot=list(zero_shot),
        sampling=sampling,
    )
    exp_id = store.create_experiment(spec, "http://provider.invalid/v1")
    prepare(store, exp_id)
    return exp_id


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_s(n, 1.0, 5.0, jitter=0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert 0.9 <= backoff_s(0, 1.0, 5.0) <= 1.1


def test_poll_countdown_is_the_backoff_without_an_estimate():
    assert poll_countdown_s(30.0, None, now=1000.0) == 30.0
    assert poll_countdown_s(0.2, None, now=1000.0) == 0.2  # the configured backoff, even below MIN_POLL_S


@pytest.mark.parametrize(
    "left_s, expected",
    [
        (12.0, 12.0),  # until the estimated finish
        (100.0, 30.0),  # never longer than the backoff
        (0.2, MIN_POLL_S),  # never shorter than the floor
        (0.0, FINISH_POLL_S),  # due: about once a second
        (-2.0, FINISH_POLL_S),
        (-40.0, 10.0),  # a quarter of the overrun, so a stale estimate is not polled every second for hours
        (-3600.0, 30.0),
    ],
)
def test_poll_countdown_waits_until_the_estimated_finish(left_s, expected):
    assert poll_countdown_s(30.0, 1000.0 + left_s, now=1000.0) == pytest.approx(expected)


def test_an_estimate_never_lengthens_a_short_backoff():
    assert poll_countdown_s(2.0, 1010.0, now=1000.0) == 2.0
    assert poll_countdown_s(0.8, 990.0, now=1000.0) == 0.8
    assert poll_countdown_s(0.2, 1000.1, now=1000.0) == 0.2  # nor does the floor


def provider_error(stub, status: int, headers: dict) -> openai.APIStatusError:
    provider = stub(faults=[(status, headers)])
    with pytest.raises(openai.APIStatusError) as caught:
        provider.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    return caught.value


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({}, None),
    ],
)
def test_retry_after_reads_the_provider_headers(stub, headers, expected):
    assert retry_after_s(provider_error(stub, 429, headers)) == expected


def test_retry_after_accepts_an_http_date(stub):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_s(provider_error(stub, 503, {"Retry-After": when})) <= 30


def test_only_rate_limits_server_errors_and_timeouts_are_retryable(stub):
    assert is_retryable(provider_error(stub, 429, {}))
    assert is_retryable(provider_error(stub, 502, {}))
    assert not is_retryable(provider_error(stub, 400, {}))
    assert not is_retryable(provider_error(stub, 404, {}))


def stub_settings(provider: StubChat, **env: str) -> Settings:
    return load_settings({"OPENAI_BASE_URL": str(provider.client.base_url).rstrip("/"), **env})


def test_the_sdk_client_waits_as_told_by_retry_after_then_backs_off(stub):
    provider = stub(faults=[(429, {"Retry-After": "1"}), (500, {})])
    client = make_client(stub_settings(provider, TQ_MAX_RETRIES="3"))
    answer = ask(client, "m", [{"role": "user", "content": "hi"}], PRESETS["reference"])
    assert answer.text == "Negative."
    assert len(provider.requests) == 3
    assert provider.times[1] - provider.times[0] >= 1.0  # the provider's Retry-After, not the SDK's 0.5 s backoff


def test_the_sdk_client_gives_up_after_max_retries_and_never_retries_a_400(stub):
    provider = stub(faults=[(503, {})] * 10)
    client = make_client(stub_settings(provider, TQ_MAX_RETRIES="3"))
    with pytest.raises(openai.InternalServerError):
        ask(client, "m", [{"role": "user", "content": "hi"}], PRESETS["reference"])
    assert len(provider.requests) == 4

    bad = stub(faults=[(400, {})])
    with pytest.raises(openai.BadRequestError):
        ask(
            make_client(stub_settings(bad, TQ_MAX_RETRIES="3")),
            "m",
            [{"role": "user", "content": "hi"}],
            PRESETS["reference"],
        )
    assert len(bad.requests) == 1


def test_a_retry_after_longer_than_the_sdk_backoff_is_not_waited_for_inside_the_call(stub):
    """The SDK would sleep 30 s here (it honours up to two minutes), past what settings allow one call."""
    provider = stub(faults=[(429, {"Retry-After": "30"})])
    client = make_client(stub_settings(provider, TQ_MAX_RETRIES="3"))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert len(provider.requests) == 1
    assert retry_after_s(caught.value) == 30


def test_the_retry_bound_uses_the_sdks_own_backoff():
    """`shared.retries` mirrors the SDK's backoff constants to bound a call; a new SDK release must not move them."""
    from openai import _constants

    assert (SDK_FIRST_RETRY_WAIT_S, SDK_MAX_RETRY_WAIT_S) == (
        _constants.INITIAL_RETRY_DELAY,
        _constants.MAX_RETRY_DELAY,
    )
    assert call_bound_s(30, 3) == 4 * 30 + 0.5 + 1 + 2
    assert fit_call(5, 3, 100) == (5, 3)
    assert fit_call(5, 3, 11) == (5, 1)
    assert fit_call(5, 3, 2) == (2, 0)


def test_evaluate_asks_only_for_missing_items_and_scores_stored_predictions(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    split = load_split(store, exp_id)
    done_before = split.test[:5]
    for item in done_before:
        store.save_prediction(
            exp_id, "run-1", {"row": item.row, "expected": item.label, "output": item.label, "predicted": item.label}
        )
    provider = stub(answer="Sentiment: negative")
    progress = evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=3, budget_s=60)
    assert progress == EvalProgress(12, 12)
    asked = {request["messages"][-1]["content"] for request in provider.requests}
    assert len(provider.requests) == 7
    assert not any(item.text in message for item in done_before for message in asked)
    run = store.get_run(exp_id, "run-1")
    expected_correct = 5 + sum(1 for item in split.test[5:] if item.label == "negative")
    assert run["status"] == "succeeded"
    assert run["metrics"]["accuracy"] == pytest.approx(expected_correct / 12)
    assert run["progress"] == {"done": 12, "total": 12}


def test_prepare_records_each_runs_prelaunch_estimate_beside_which_the_actual_cost_comes_later(store):
    """The estimate the form showed before launch, not the trained tokens priced after training."""
    exp_id = prepared_experiment(store, models=("gpt-4o-mini",), zero_shot=("local-tfidf",))
    record = store.get_experiment(exp_id, with_predictions=False)
    report = prelaunch_report(load_split(store, exp_id), PRESETS["reference"], ["gpt-4o-mini"], ["local-tfidf"], "auto")
    assert [run["cost_estimate_usd"] for run in record["runs"]] == [m.cost_usd for m in report.models]
    assert record["runs"][0]["cost_estimate_usd"] > 0 and record["runs"][1]["cost_estimate_usd"] == 0.0


USAGE = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}


def test_evaluation_sums_the_providers_usage_once_per_item_across_slices(store, stub):
    """An earlier slice answered 5 items (their usage stored with them); this one answers the other 7. The run's
    usage counts each of the 12 answers once, and a zero-shot local model costs nothing and says so."""
    exp_id = prepared_experiment(store, zero_shot=["local-tfidf"], models=())
    split = load_split(store, exp_id)
    for item in split.test[:5]:
        store.save_prediction(
            exp_id, "run-1", {**make_prediction(item.row, item.label, "Negative.", split.labels), "usage": USAGE}
        )
    provider = stub(usage=USAGE)
    progress = evaluate(store, provider.client, exp_id, "run-1", "local-tfidf", concurrency=2, budget_s=60)
    assert progress.finished and len(provider.requests) == 7
    run = store.get_run(exp_id, "run-1")
    assert run["usage"] == {"prompt_tokens": 12 * 40, "completion_tokens": 12 * 2, "total_tokens": 12 * 42}
    assert (run["cost_usd"], run["cost_note"]) == (0.0, "local model: no charge")
    assert all(p["usage"] == USAGE for p in store.predictions(exp_id, "run-1").values())


def test_a_priced_models_cost_is_its_usage_at_the_dated_table(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["gpt-4o-mini"], models=())
    provider = stub(usage=USAGE)
    evaluate(store, provider.client, exp_id, "run-1", "gpt-4o-mini", concurrency=2, budget_s=60)
    run = store.get_run(exp_id, "run-1")
    assert run["cost_usd"] == pytest.approx(inference_cost("gpt-4o-mini", 12 * 40, 12 * 2, fine_tuned=False))
    assert PRICES_AS_OF in run["cost_note"]


def test_evaluate_stops_starting_requests_after_its_budget(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    provider = stub()
    progress = evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=1, budget_s=0)
    assert progress == EvalProgress(0, 12) and provider.requests == []
    assert store.get_run(exp_id, "run-1")["status"] == "evaluating"


def test_evaluate_turns_a_rejected_request_into_a_run_error(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    provider = stub(faults=[(404, {})] * 20)
    with pytest.raises(StepError, match="m could not answer: the provider answered 404"):
        evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=1, budget_s=60)


def test_start_fine_tune_creates_one_job_and_finds_it_again(tq_stack, tq_store):
    client = openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
    exp_id = prepared_experiment(tq_store)
    file_id = upload(tq_store, client, exp_id)
    assert upload(tq_store, client, exp_id) == file_id  # uploaded once

    job_id = start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600)
    assert start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600) == job_id

    # An earlier attempt whose response was lost: the job exists at the provider, its id is not in the store.
    tq_store.update_run(exp_id, "run-1", job_id=None)
    assert start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600) == job_id
    jobs = list(client.fine_tuning.jobs.list(metadata=job_metadata(exp_id, "run-1")))
    assert [job.id for job in jobs] == [job_id]
    run = tq_store.get_run(exp_id, "run-1")
    assert run["status"] == "fine_tuning" and run["deadline_at"] > 0


def test_poll_fails_a_job_past_its_deadline_and_cancels_it(tq_stack, tq_store):
    client = openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
    exp_id = prepared_experiment(tq_store, models=("local-minilm",))
    file_id = upload(tq_store, client, exp_id)
    job_id = start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=1, clock=lambda: 0.0)
    with pytest.raises(StepError, match="deadline"):
        poll_fine_tune(tq_store, client, exp_id, "run-1", job_id, clock=lambda: 2.0)
    # A job already training stops at its trainer's next check, after loading the base model: wait for that.
    waited_until = time.monotonic() + 60
    while (status := client.fine_tuning.jobs.retrieve(job_id).status) == "running" and time.monotonic() < waited_until:
        time.sleep(0.2)
    assert status in ("cancelled", "succeeded")


def test_summarize_keeps_the_failed_runs_in_the_table(store):
    exp_id = prepared_experiment(store, models=("a", "b"))
    store.update_run(exp_id, "run-1", status="failed", error="model 'a' is not available")
    store.update_run(exp_id, "run-2", status="succeeded", metrics={"accuracy": 0.5, "macro_f1": 0.4, "invalid": 1})
    result = summarize(store, exp_id)
    record = store.get_experiment(exp_id)
    assert result["best_run"] == "run-2"
    assert [row["status"] for row in result["table"]] == ["failed", "succeeded"]
    # one run succeeded and one failed: `partial` (it was `failed` before that status existed)
    assert record["status"] == "partial" and "model 'a' is not available" in record["error"]
    assert record["finished_at"]


def test_training_time_starts_at_the_providers_started_event_not_at_job_creation(tq_stack, tq_store):
    client = openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
    exp_id = prepared_experiment(tq_store, models=("local-tfidf",))
    file_id = upload(tq_store, client, exp_id)
    job_id = start_fine_tune(tq_store, client, exp_id, "run-1", file_id, deadline_s=600)
    while not (result := poll_fine_tune(tq_store, client, exp_id, "run-1", job_id)).finished:
        time.sleep(0.2)
    job = client.fine_tuning.jobs.retrieve(job_id)
    started = training_started_at(client, job_id)
    assert started is not None and job.created_at <= started <= job.finished_at
    run = tq_store.get_run(exp_id, "run-1")
    assert run["fine_tuned_model"] == result.model
    assert run["training_seconds"] == round(job.finished_at - started, 1)
    assert training_started_at(client, "ftjob-unknown") is None


def test_evaluate_cuts_the_sdk_retries_to_end_by_its_deadline_and_hands_over(store, stub):
    """Each request may take 5 s with 3 retries (up to 23.5 s), but only 2 s are left: one attempt of at most 2 s
    and no retry; the failed item is left for the next task instead of failing the run."""
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    provider = stub(faults=[(503, {})] * 10)
    progress = evaluate(
        store,
        provider.client,
        exp_id,
        "run-1",
        "m",
        concurrency=1,
        budget_s=60,
        limits=CallLimits(timeout_s=5, max_retries=3),
        deadline_s=2,
    )
    assert len(provider.requests) == 1
    assert progress == EvalProgress(0, 12) and progress.answered == 0
    assert store.get_run(exp_id, "run-1")["status"] == "evaluating"


def test_evaluate_hands_over_with_the_wait_the_provider_asked_for(store, stub):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    provider = stub(faults=[(429, {"Retry-After": "30"})])
    client = make_client(stub_settings(provider, TQ_MAX_RETRIES="3"))
    progress = evaluate(
        store,
        client,
        exp_id,
        "run-1",
        "m",
        concurrency=1,
        budget_s=60,
        limits=CallLimits(timeout_s=5, max_retries=3),
        deadline_s=60,
    )
    assert len(provider.requests) == 1
    assert progress.done == 0 and progress.wait_s == 30


def test_only_one_evaluate_task_works_on_a_run_at_a_time(store, stub):
    """A late copy of the task (its worker lost Redis and is still finishing its slice) holds the run's lease: the
    redelivered copy asks nothing and is told when to come back; once the lease is given back it goes on."""
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    provider = stub()
    late_copy = RunLease(store.client, exp_id, "run-1", ttl_s=60)
    assert late_copy.acquire()
    with pytest.raises(Busy) as busy:
        evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=2, budget_s=60, deadline_s=120)
    assert 0 < busy.value.retry_in_s <= 60
    assert provider.requests == [] and store.predictions(exp_id, "run-1") == {}

    late_copy.release()
    progress = evaluate(store, provider.client, exp_id, "run-1", "m", concurrency=2, budget_s=60, deadline_s=120)
    assert progress.finished and len(provider.requests) == 12
    assert not store.client.exists(late_copy.key)  # given back when the slice ended
    assert RunLease(store.client, exp_id, "run-1", ttl_s=1).acquire()


def test_a_lease_taken_over_after_expiring_is_not_released_by_its_old_holder(store):
    exp_id = prepared_experiment(store, zero_shot=["m"], models=())
    old = RunLease(store.client, exp_id, "run-1", ttl_s=0.05)
    assert old.acquire()
    time.sleep(0.1)
    new = RunLease(store.client, exp_id, "run-1", ttl_s=60)
    assert new.acquire()
    old.release()
    assert store.client.get(new.key) == new.token.encode()


def test_jobs_are_created_with_the_supervised_method_shape():
    record = {
        "id": "exp_0123456789ab",
        "hyperparameters": {
            "n_epochs": 2,
            "batch_size": "auto",
            "learning_rate_multiplier": 0.5,
            "suffix": "tq",
            "seed": 7,
        },
    }
    request = job_request(record, {"id": "run-1", "base_model": "local-tfidf"}, "file-1")
    assert request == {
        "model": "local-tfidf",
        "training_file": "file-1",
        "suffix": "tq",
        "seed": 7,
        "metadata": {"tunequeue_experiment": "exp_0123456789ab", "tunequeue_run": "run-1"},
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5}},
        },
    }
    assert "hyperparameters" not in request


def test_the_provider_trains_with_the_hyperparameters_sent_in_the_method(tq_stack, tq_store):
    client = openai.OpenAI(base_url=tq_stack.openai_base_url, api_key="unused", max_retries=0, timeout=30)
    exp_id = prepared_experiment(tq_store)
    record = tq_store.get_experiment(exp_id, with_predictions=False)
    tq_store.update_experiment(exp_id, hyperparameters={**record["hyperparameters"], "n_epochs": 2})
    job_id = start_fine_tune(tq_store, client, exp_id, "run-1", upload(tq_store, client, exp_id), deadline_s=600)
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.method is not None and job.method.supervised is not None
    assert job.method.supervised.hyperparameters.n_epochs == 2
