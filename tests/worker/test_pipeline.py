"""The experiment canvas on real processes: worker crashes, lost responses, zero-shot runs, cancellation."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import redis
from slow_proxy import SlowProxy
from worker_helpers import SAMPLE_CSV, recomputed_accuracy, wait_finished, wait_until

from shared.dataset_sampling import REFERENCE_TRAIN_COUNTS, SamplingSpec
from shared.records import ExperimentSpec
from shared.store import predictions_key
from worker import pipeline


def sample_spec(store, models=(), zero_shot=(), test_per_class: int = 33, test_offset: int = 100) -> ExperimentSpec:
    """The sample CSV with the reference training rows and `test_per_class` test rows per class from `test_offset`."""
    sha = store.put_dataset(SAMPLE_CSV.read_bytes(), SAMPLE_CSV.name)
    sampling = SamplingSpec(
        mode="balanced",
        train_counts=dict(REFERENCE_TRAIN_COUNTS),
        train_offset=0,
        test_counts={label: test_per_class for label in REFERENCE_TRAIN_COUNTS},
        test_offset=test_offset,
    )
    return ExperimentSpec(
        dataset_sha256=sha,
        dataset_name=SAMPLE_CSV.name,
        dataset_path=str(SAMPLE_CSV),
        text_column="text",
        label_column="airline_sentiment",
        models=list(models),
        zero_shot=list(zero_shot),
        sampling=sampling,
    )


class WriteCounter:
    """Counts, with Redis MONITOR, every HSET of a prediction hash: how many times each row's answer was written."""

    def __init__(self, url: str, key: str):
        self.key = key
        self.rows: Counter[int] = Counter()
        self.client = redis.Redis.from_url(url)
        self.monitor = self.client.monitor().__enter__()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        try:
            for command in self.monitor.listen():
                parts = command["command"].split(" ")
                if parts[0].upper() == "HSET" and parts[1] == self.key:
                    self.rows[int(parts[2])] += 1
        except (redis.ConnectionError, ValueError, AttributeError):
            pass

    def close(self) -> None:
        self.monitor.connection.disconnect()
        self.client.close()


@pytest.mark.slow
def test_worker_killed_during_evaluation_resumes_and_predicts_each_item_once(start_worker, tq_stack, tq_store):
    """SIGKILL the worker mid-evaluation (one request at a time over ~270 test items, so it is really mid-way),
    start a new one, and the experiment completes: the task comes back after the visibility timeout, the evaluation
    asks only what is missing, and every test row's prediction is written exactly once."""
    spec = sample_spec(tq_store, models=["local-tfidf"], test_per_class=90, test_offset=40)
    worker = start_worker(TQ_EVAL_CONCURRENCY=1)
    exp_id = pipeline.submit_experiment(tq_store, spec)
    writes = WriteCounter(tq_stack.redis_url, predictions_key(exp_id, "run-1"))
    try:

        def mid_evaluation():
            progress = tq_store.get_run(exp_id, "run-1")["progress"]
            return progress if progress["total"] and 5 <= progress["done"] <= progress["total"] - 50 else None

        wait_until(mid_evaluation, 120, "the evaluation to get under way", interval_s=0.02)
        worker.kill()
        killed_at = tq_store.get_run(exp_id, "run-1")["progress"]
        assert 0 < killed_at["done"] < killed_at["total"]
        assert tq_store.get_experiment(exp_id, with_predictions=False)["status"] == "running"

        start_worker(TQ_EVAL_CONCURRENCY=4)
        record = wait_finished(tq_store, exp_id, timeout_s=180)
    finally:
        writes.close()

    run = record["runs"][0]
    assert record["status"] == "succeeded", run["error"]
    test_rows = record["split"]["test_rows"]
    assert len(test_rows) == 270
    assert sorted(p["row"] for p in run["predictions"]) == sorted(test_rows)
    assert sorted(writes.rows) == sorted(test_rows)
    assert set(writes.rows.values()) == {1}, [row for row, n in writes.rows.items() if n > 1]
    assert run["progress"] == {"done": 270, "total": 270}
    assert run["metrics"]["n"] == 270
    assert run["metrics"]["accuracy"] == pytest.approx(recomputed_accuracy(run))


@pytest.mark.slow
def test_a_create_call_that_times_out_is_retried_and_makes_exactly_one_job(start_worker, tq_stack, tq_store, provider):
    """The first job-create response is held back past the client's 1 s timeout (a real timeout through a real
    proxy; the backend did create the job). The retried task finds that job by its metadata instead of creating
    a second one."""
    origin = tq_stack.openai_base_url.rsplit("/v1", 1)[0]
    proxy = SlowProxy(origin, {("POST", "/v1/fine_tuning/jobs"): [3.0]})
    try:
        start_worker(OPENAI_BASE_URL=f"{proxy.url}/v1", TQ_REQUEST_TIMEOUT_S=1)
        exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=5))
        record = wait_finished(tq_store, exp_id, timeout_s=120)
    finally:
        proxy.close()

    run = record["runs"][0]
    assert run["status"] == "succeeded", run["error"]
    assert proxy.count("POST", "/v1/fine_tuning/jobs") == 1
    jobs = list(provider.fine_tuning.jobs.list(metadata={"tunequeue_experiment": exp_id, "tunequeue_run": "run-1"}))
    assert [job.id for job in jobs] == [run["job_id"]]
    messages = [event["message"] for event in run["events"]]
    assert any("did not answer in time" in message for message in messages), messages
    assert any(f"found the fine-tuning job {run['job_id']}" in message for message in messages), messages


@pytest.mark.slow
def test_zero_shot_run_is_evaluated_without_fine_tuning(start_worker, tq_store, provider):
    chat_model = "smollm2-135m-instruct"
    if chat_model not in {model.id for model in provider.models.list()}:
        pytest.skip(f"local_openai does not list {chat_model} in this checkout")
    # The first request waits for the model to load; the visibility timeout must stay 4x the request timeout, and
    # twice one call with its retries (2 x 120 s + 0.5 s).
    start_worker(TQ_REQUEST_TIMEOUT_S=120, TQ_VISIBILITY_TIMEOUT_S=500)
    exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, zero_shot=[chat_model], test_per_class=4))
    record = wait_finished(tq_store, exp_id, timeout_s=300)
    (run,) = record["runs"]
    assert (run["kind"], run["status"]) == ("zero-shot", "succeeded"), run["error"]
    assert run["job_id"] is None and run["fine_tuned_model"] is None
    assert record["training_file"] is None  # nothing to fine-tune, so nothing uploaded
    assert len(run["predictions"]) == 12 and all(isinstance(p["output"], str) for p in run["predictions"])
    assert run["metrics"]["accuracy"] == pytest.approx(recomputed_accuracy(run))
    assert record["status"] == "succeeded"


@pytest.mark.slow
def test_cancel_stops_the_runs_and_the_provider_job(start_worker, tq_store, provider):
    start_worker()
    exp_id = pipeline.submit_experiment(
        tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=90, test_offset=40)
    )
    wait_until(
        lambda: tq_store.get_run(exp_id, "run-1")["job_id"], 60, "the fine-tuning job to be created", interval_s=0.02
    )
    pipeline.cancel_experiment(tq_store, exp_id)
    record = wait_finished(tq_store, exp_id, timeout_s=60)
    run = record["runs"][0]
    assert record["status"] == "cancelled"
    assert run["status"] == "cancelled"
    assert len(run["predictions"]) < 270


def redis_dump(url: str) -> bytes:
    """Every value in the Redis database (task messages, results, records), concatenated."""
    client = redis.Redis.from_url(url)
    chunks = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            chunks.append(client.get(key))
        elif kind == b"hash":
            chunks.extend(value for pair in client.hgetall(key).items() for value in pair)
        elif kind == b"list":
            chunks.extend(client.lrange(key, 0, -1))
        elif kind in (b"set", b"zset"):
            chunks.extend(client.zrange(key, 0, -1) if kind == b"zset" else client.smembers(key))
    client.close()
    return b"\n".join(chunks)


@pytest.mark.slow
def test_the_api_key_never_reaches_the_broker_the_records_or_the_logs(start_worker, tq_stack, tq_store, monkeypatch):
    from shared.settings import get_settings

    secret = "sk-tunequeue-test-secret-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    get_settings.cache_clear()
    try:
        worker = start_worker(OPENAI_API_KEY=secret)
        exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=3))
        record = wait_finished(tq_store, exp_id, timeout_s=120)
    finally:
        monkeypatch.delenv("OPENAI_API_KEY")
        get_settings.cache_clear()
    assert record["status"] == "succeeded"
    # results are stored with their arguments (result_extended), so a key passed to a task would be found here
    assert secret.encode() not in redis_dump(tq_stack.redis_url)
    assert secret not in worker.log_path.read_text(errors="replace")


@pytest.mark.slow
def test_a_slow_provider_never_keeps_an_evaluate_task_past_the_visibility_timeout(start_worker, tq_stack, tq_store):
    """The first four chat requests are answered after 6 s, past the 5 s request timeout, the next six after 4.5 s.
    The SDK asks the first item five times (four retries, 32 s with its backoff: the most settings allow a call with
    a 65 s visibility timeout); each task stops starting questions after a quarter of the timeout and ends every
    call by half of it, then hands the rest to a fresh one, which takes the run's lease only once the first let go:
    never two evaluations of one run at once, and every row is written once."""
    origin = tq_stack.openai_base_url.rsplit("/v1", 1)[0]
    chat = ("POST", "/v1/chat/completions")
    proxy = SlowProxy(origin, {chat: [6.0] * 4 + [4.5] * 6})
    try:
        start_worker(
            concurrency=2,
            OPENAI_BASE_URL=f"{proxy.url}/v1",
            TQ_REQUEST_TIMEOUT_S=5,
            TQ_VISIBILITY_TIMEOUT_S=65,
            TQ_MAX_RETRIES=4,
            TQ_EVAL_CONCURRENCY=1,
        )
        exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=3))
        writes = WriteCounter(tq_stack.redis_url, predictions_key(exp_id, "run-1"))
        try:
            record = wait_finished(tq_store, exp_id, timeout_s=180)
        finally:
            writes.close()
    finally:
        proxy.close()

    run = record["runs"][0]
    assert run["status"] == "succeeded", run["error"]
    test_rows = record["split"]["test_rows"]
    assert sorted(p["row"] for p in run["predictions"]) == sorted(test_rows)
    assert sorted(writes.rows) == sorted(test_rows)
    assert set(writes.rows.values()) == {1}, [row for row, n in writes.rows.items() if n > 1]
    assert proxy.count(*chat) >= len(test_rows) + 4
