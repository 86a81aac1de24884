"""Helpers for the worker tests: the reference split read straight from the CSV, and waiting on the store."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shared.record_types import FINISHED_EXPERIMENT_STATUSES
from shared.records import FINISHED_RUN_STATUSES

REPO = Path(__file__).resolve().parents[2]
TWEETS_CSV = REPO.parent / "shared" / "data" / "Tweets.csv"
SAMPLE_CSV = REPO / "shared" / "sample_data" / "airline_tweets_sample.csv"
T = TypeVar("T")


def reference_rows(
    path: Path, offset: int, counts: dict[str, int], text_column: str = "text", label_column: str = "airline_sentiment"
) -> list[int]:
    """The reference script's selection, recomputed independently with the csv module: per label in the order of
    `counts`, the rows (0-based, header excluded) `offset..offset+count` among rows with non-blank text and label."""
    by_label: dict[str, list[int]] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            if (row[text_column] or "").strip() and (row[label_column] or "").strip():
                by_label.setdefault(row[label_column], []).append(number)
    return [row for label, count in counts.items() for row in by_label[label][offset : offset + count]]


def csv_labels(path: Path, label_column: str = "airline_sentiment") -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return [row[label_column] for row in csv.DictReader(handle)]


def wait_until(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.1) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def wait_finished(store, exp_id: str, timeout_s: float = 180) -> dict:
    def finished():
        record = store.get_experiment(exp_id, with_predictions=False)
        done = record["status"] in FINISHED_EXPERIMENT_STATUSES and all(
            run["status"] in FINISHED_RUN_STATUSES for run in record["runs"]
        )
        return record if done else None

    wait_until(finished, timeout_s, f"experiment {exp_id} to finish")
    return store.get_experiment(exp_id)


def recomputed_accuracy(run: dict) -> float:
    predictions = run["predictions"]
    return sum(p["predicted"] == p["expected"] for p in predictions) / len(predictions)
