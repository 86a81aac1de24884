"""Experiment records in Redis (keys in docs/ARCHITECTURE.md): JSON values, `tq:` prefix, no expiry.

The record is split so concurrent chains never overwrite each other: the experiment key (written by
prepare/upload/summarize/cancel), one key per run (written only by that run's chain) and one hash of predictions per
run (one field per test row, so a resumed evaluation sees what is already done). Updates are read-modify-write
inside a WATCH transaction, so two writers of the same key cannot lose each other's change.

The client is created with decode_responses=False (checked by `Store`), so replies are bytes; redis-py types them
`bytes | str` because that option is only known at run time, hence the casts to bytes below.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any, cast

import redis

from shared.record_types import (
    FINISHED_EXPERIMENT_STATUSES,
    Event,
    EventLevel,
    ExperimentRecord,
    ExperimentState,
    Prediction,
    Run,
    RunState,
    StoredItems,
)
from shared.records import (
    FINISHED_RUN_STATUSES,
    ExperimentSpec,
    is_dataset_hash,
    is_experiment_id,
    new_experiment_record,
    not_a_dataset_hash,
    not_an_experiment_id,
    now_iso,
)

PREFIX = "tq:"
EXPERIMENTS_KEY = PREFIX + "experiments"
DATASET_PREFIX = PREFIX + "dataset:"
MAX_EVENTS_PER_RUN = 500
ACTIVE_STATUSES = ("queued", "preparing", "running")


class NotFound(LookupError):
    """A dataset, experiment or run is not in Redis (or its id is malformed, so it cannot be)."""


class _Unchanged(Exception):
    """Raised inside a transaction to leave the key as it is (`Store.update_run_if`)."""


class DatasetQuotaExceeded(Exception):
    """Storing a dataset would take the stored datasets past TQ_DATASET_QUOTA_BYTES; the message says how to free
    space."""

    def __init__(self, used: int, needed: int, quota: int) -> None:
        super().__init__(
            f"Stored datasets already use {used} of {quota} bytes (TQ_DATASET_QUOTA_BYTES) and this upload needs "
            f"{needed} more. Free space by deleting datasets that no running experiment needs (DELETE "
            f"/api/datasets/<sha256>; finished experiments keep their results), or ask the operator to raise "
            f"TQ_DATASET_QUOTA_BYTES."
        )
        self.used, self.needed, self.quota = used, needed, quota


def _checked(exp_id: str) -> str:
    if not is_experiment_id(exp_id):
        raise NotFound(not_an_experiment_id(exp_id))
    return exp_id


def experiment_key(exp_id: str) -> str:
    return f"{PREFIX}exp:{_checked(exp_id)}"


def runs_key(exp_id: str) -> str:
    return f"{experiment_key(exp_id)}:runs"


def run_key(exp_id: str, run_id: str) -> str:
    return f"{experiment_key(exp_id)}:run:{run_id}"


def predictions_key(exp_id: str, run_id: str) -> str:
    return f"{run_key(exp_id, run_id)}:pred"


def items_key(exp_id: str) -> str:
    return f"{experiment_key(exp_id)}:items"


def dataset_key(sha256: str) -> str:
    if not is_dataset_hash(sha256):
        raise NotFound(not_a_dataset_hash(sha256))
    return f"{DATASET_PREFIX}{sha256}"


def _dumps(value: Any) -> str:
    """Strict JSON: NaN and infinities raise ValueError instead of being written as bare `NaN`, which strict
    parsers (browsers' JSON.parse, jq) refuse."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Store:
    """Experiment, run and prediction records over a `redis.Redis` client created with decode_responses=False."""

    def __init__(self, client: redis.Redis) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("Store needs a redis client with decode_responses=False: uploaded datasets are bytes")
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(redis.Redis.from_url(url))

    # datasets

    def put_dataset(self, data: bytes, name: str, quota_bytes: int | None = None) -> str:
        """Store uploaded CSV bytes under their sha256 (idempotent) and return the hash.

        With `quota_bytes`, a new dataset that would take the stored total past it raises DatasetQuotaExceeded.
        (Two uploads at the same moment may both pass the check: the quota bounds growth, it is not a ledger.)"""
        sha256 = hashlib.sha256(data).hexdigest()
        if quota_bytes is not None and not self.has_dataset(sha256):
            used = self.dataset_bytes()
            if used + len(data) > quota_bytes:
                raise DatasetQuotaExceeded(used, len(data), quota_bytes)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(dataset_key(sha256), data)
            pipe.set(dataset_key(sha256) + ":name", name.encode("utf-8"))
            pipe.execute()
        return sha256

    def get_dataset(self, sha256: str) -> bytes:
        data = cast("bytes | None", self.client.get(dataset_key(sha256)))
        if data is None:
            raise NotFound(f"dataset {sha256} is not in Redis; upload the CSV again")
        return data

    def dataset_name(self, sha256: str) -> str | None:
        if not is_dataset_hash(sha256):
            return None
        name = cast("bytes | None", self.client.get(dataset_key(sha256) + ":name"))
        return name.decode("utf-8") if name is not None else None

    def has_dataset(self, sha256: str) -> bool:
        return is_dataset_hash(sha256) and bool(self.client.exists(dataset_key(sha256)))

    def dataset_bytes(self) -> int:
        """Total size of the stored datasets, in bytes."""
        keys = [
            key
            for key in self.client.scan_iter(match=f"{DATASET_PREFIX}*", count=500)
            if is_dataset_hash(key.decode("utf-8")[len(DATASET_PREFIX) :])
        ]
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.strlen(key)
            return sum(int(size) for size in pipe.execute()) if keys else 0

    def delete_dataset(self, sha256: str) -> bool:
        """Remove a stored dataset and its name; False when there was none."""
        key = dataset_key(sha256)
        return bool(self.client.delete(key, key + ":name"))

    def experiments_needing(self, sha256: str) -> list[str]:
        """Ids of the experiments not yet finished that use the dataset (their prepare step reads it)."""
        needing: list[str] = []
        ids = [raw.decode("utf-8") for raw in cast("list[bytes]", self.client.zrange(EXPERIMENTS_KEY, 0, -1))]
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            for exp_id, raw in zip(chunk, self.client.mget([experiment_key(exp_id) for exp_id in chunk]), strict=True):
                record = json.loads(raw) if raw is not None else {}
                if record.get("dataset", {}).get("sha256") == sha256 and record.get("status") in ACTIVE_STATUSES:
                    needing.append(exp_id)
        return needing

    def experiments_using(self, sha256: str) -> list[ExperimentRecord]:
        """Every experiment on the dataset, newest first, without predictions (a dataset's leaderboard)."""
        ids = [raw.decode("utf-8") for raw in cast("list[bytes]", self.client.zrevrange(EXPERIMENTS_KEY, 0, -1))]
        using: list[ExperimentRecord] = []
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            for exp_id, raw in zip(chunk, self.client.mget([experiment_key(exp_id) for exp_id in chunk]), strict=True):
                if raw is not None and json.loads(raw).get("dataset", {}).get("sha256") == sha256:
                    record = self.get_experiment(exp_id, with_predictions=False)
                    if record is not None:
                        using.append(record)
        return using

    def list_datasets(self) -> list[dict[str, str]]:
        """Every uploaded dataset as {"sha256", "name"}, sorted by name, then hash."""
        prefix, suffix = DATASET_PREFIX, ":name"
        keys = list(self.client.scan_iter(match=f"{prefix}*{suffix}", count=500))
        names = cast("list[bytes | None]", self.client.mget(keys)) if keys else []
        found = [
            {"sha256": key.decode("utf-8")[len(prefix) : -len(suffix)], "name": name.decode("utf-8")}
            for key, name in zip(keys, names, strict=True)
            if name is not None
        ]
        return sorted(found, key=lambda dataset: (dataset["name"], dataset["sha256"]))

    # experiments

    def create_experiment(self, spec: ExperimentSpec, base_url: str) -> str:
        """Write a new queued experiment and its pending runs; returns the experiment id."""
        record = new_experiment_record(spec, base_url)
        exp_id = record["id"]
        stored: dict[str, Any] = dict(record)
        runs: list[dict[str, Any]] = [dict(run) for run in stored.pop("runs")]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(experiment_key(exp_id), _dumps(stored))
            for run in runs:
                run.pop("predictions")
                pipe.rpush(runs_key(exp_id), run["id"])
                pipe.set(run_key(exp_id, run["id"]), _dumps(run))
            pipe.zadd(EXPERIMENTS_KEY, {exp_id: time.time()})
            pipe.execute()
        return exp_id

    def exists(self, exp_id: str) -> bool:
        """False for an unknown or malformed id."""
        return is_experiment_id(exp_id) and bool(self.client.exists(experiment_key(exp_id)))

    def _experiment_only(self, exp_id: str) -> ExperimentState | None:
        if not is_experiment_id(exp_id):
            return None
        raw = cast("bytes | None", self.client.get(experiment_key(exp_id)))
        return cast(ExperimentState, json.loads(raw)) if raw is not None else None

    def run_ids(self, exp_id: str) -> list[str]:
        return [run_id.decode("utf-8") for run_id in cast("list[bytes]", self.client.lrange(runs_key(exp_id), 0, -1))]

    def get_experiment(self, exp_id: str, with_predictions: bool = True) -> ExperimentRecord | None:
        """The full record (runs and, by default, predictions sorted by row), or None when unknown or malformed."""
        record = self._experiment_only(exp_id)
        if record is None:
            return None
        runs: list[Run] = []
        for run_id in self.run_ids(exp_id):
            predictions = (
                sorted(self.predictions(exp_id, run_id).values(), key=lambda p: p["row"]) if with_predictions else []
            )
            runs.append({**self.get_run(exp_id, run_id), "predictions": predictions})
        return {**record, "runs": runs}

    def list_experiments(self, limit: int = 50) -> list[ExperimentRecord]:
        """The newest experiments first, without predictions."""
        ids = [
            raw.decode("utf-8")
            for raw in cast("list[bytes]", self.client.zrevrange(EXPERIMENTS_KEY, 0, max(limit, 1) - 1))
        ]
        records = (self.get_experiment(exp_id, with_predictions=False) for exp_id in ids)
        return [record for record in records if record is not None]

    def _update(self, key: str, change: Callable[[dict[str, Any]], None], what: str) -> dict[str, Any]:
        """Apply `change` to the JSON at `key` atomically (retried if another writer got in first)."""

        def transaction(pipe: redis.client.Pipeline) -> dict[str, Any]:
            raw = pipe.get(key)
            if raw is None:
                raise NotFound(f"{what} is not in Redis")
            value: dict[str, Any] = json.loads(raw)
            change(value)
            value["updated_at"] = now_iso()
            pipe.multi()
            pipe.set(key, _dumps(value))
            return value

        # redis-py types the callable as returning None; with value_from_callable=True its value is returned.
        result = self.client.transaction(transaction, key, value_from_callable=True)  # type: ignore[arg-type]
        return cast("dict[str, Any]", result)

    def update_experiment(self, exp_id: str, **fields: Any) -> ExperimentState:
        """Set top-level fields of the experiment (not `runs`); a final status also stamps `finished_at`."""
        if "runs" in fields:
            raise ValueError("runs are stored separately: use update_run")

        def change(record: dict[str, Any]) -> None:
            record.update(fields)
            if fields.get("status") in FINISHED_EXPERIMENT_STATUSES and not record.get("finished_at"):
                record["finished_at"] = now_iso()

        return cast(ExperimentState, self._update(experiment_key(exp_id), change, f"experiment {exp_id}"))

    # runs

    def get_run(self, exp_id: str, run_id: str) -> RunState:
        """The run without its predictions."""
        raw = cast("bytes | None", self.client.get(run_key(exp_id, run_id)))
        if raw is None:
            raise NotFound(f"run {run_id} of experiment {exp_id} is not in Redis")
        return cast(RunState, json.loads(raw))

    def update_run(self, exp_id: str, run_id: str, **fields: Any) -> RunState:
        """Set fields of one run (not `predictions`); a finished status also stamps `finished_at`."""
        if "predictions" in fields:
            raise ValueError("predictions are stored per row: use save_prediction")

        def change(run: dict[str, Any]) -> None:
            run.update(fields)
            if fields.get("status") in FINISHED_RUN_STATUSES and not run.get("finished_at"):
                run["finished_at"] = now_iso()

        return cast(RunState, self._update(run_key(exp_id, run_id), change, f"run {run_id} of experiment {exp_id}"))

    def update_run_if(
        self, exp_id: str, run_id: str, statuses: Collection[str], remove: Iterable[str] = (), **fields: Any
    ) -> RunState | None:
        """Set fields of one run and drop the keys in `remove`, only if its status is one of `statuses` (checked in
        the same transaction, so of two callers racing for the same change one gets None)."""
        if "predictions" in fields:
            raise ValueError("predictions are stored per row: use save_prediction")
        dropped = tuple(remove)

        def change(run: dict[str, Any]) -> None:
            if run.get("status") not in statuses:
                raise _Unchanged
            for key in dropped:
                run.pop(key, None)
            run.update(fields)

        try:
            return cast(RunState, self._update(run_key(exp_id, run_id), change, f"run {run_id} of experiment {exp_id}"))
        except _Unchanged:
            return None

    def add_event(self, exp_id: str, run_id: str | None, message: str, level: EventLevel = "info") -> None:
        """Append an event to a run (or, with run_id None, to the experiment); keeps the latest events only."""
        event: Event = {"at": now_iso(), "level": level, "message": message}

        def change(value: dict[str, Any]) -> None:
            value["events"] = [*value.get("events", []), event][-MAX_EVENTS_PER_RUN:]

        if run_id is None:
            self._update(experiment_key(exp_id), change, f"experiment {exp_id}")
        else:
            self._update(run_key(exp_id, run_id), change, f"run {run_id} of experiment {exp_id}")

    # predictions

    def save_prediction(self, exp_id: str, run_id: str, prediction: Prediction) -> bool:
        """Store one prediction under its row; returns True when that row had none before."""
        return bool(self.client.hset(predictions_key(exp_id, run_id), str(prediction["row"]), _dumps(prediction)))

    def predictions(self, exp_id: str, run_id: str) -> dict[int, Prediction]:
        """The run's stored predictions by row."""
        stored = cast("dict[bytes, bytes]", self.client.hgetall(predictions_key(exp_id, run_id)))
        return {int(row): cast(Prediction, json.loads(value)) for row, value in stored.items()}

    def clear_predictions(self, exp_id: str, run_id: str) -> None:
        self.client.delete(predictions_key(exp_id, run_id))

    # items written by prepare

    def save_items(self, exp_id: str, items: StoredItems) -> None:
        self.client.set(items_key(exp_id), _dumps(items))

    def get_items(self, exp_id: str) -> StoredItems | None:
        raw = cast("bytes | None", self.client.get(items_key(exp_id)))
        return cast(StoredItems, json.loads(raw)) if raw is not None else None

    # cancellation

    def request_cancel(self, exp_id: str) -> None:
        """Flag the experiment as cancelled-on-request; running tasks check `cancel_requested` and stop."""
        self.update_experiment(exp_id, cancel_requested=True)

    def cancel_requested(self, exp_id: str) -> bool:
        record = self._experiment_only(exp_id)
        return bool(record and record.get("cancel_requested"))
