"""Comparing runs across experiments and a dataset's leaderboard, on records scored by the real steps in Redis."""

from __future__ import annotations

import pytest
from scored_runs import always, right, scored_experiment

from shared.comparison import ComparisonError, RunRef, compare, parse_run_refs
from shared.leaderboard import leaderboard
from shared.record_types import ExperimentRecord, Run
from shared.store import Store

A, B = "exp_0123456789ab", "exp_ba9876543210"


def chosen(store: Store, *keys: str) -> list[tuple[RunRef, ExperimentRecord, Run]]:
    picked = []
    for ref in parse_run_refs([",".join(keys)]):
        record = store.get_experiment(ref.exp_id)
        assert record is not None
        picked.append((ref, record, next(run for run in record["runs"] if run["id"] == ref.run_id)))
    return picked


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "at least two runs"),
        (f"{A}:run-1", "at least two runs"),
        (f"{A}:run-1,{A}", "does not name a run"),
        (f"{A}:run-1,exp_XYZ:run-1", "is not an experiment id"),
        (f"{A}:run-1,{B}:run-01", "is not a run id"),
        (f"{A}:run-1,{B}:../../x", "is not a run id"),
        (f"{A}:run-1,{A}:run-1", "named twice"),
        (",".join(f"{A}:run-{i}" for i in range(1, 12)), "at most 10"),
    ],
)
def test_malformed_run_lists_are_refused_with_the_reason(value: str, message: str) -> None:
    with pytest.raises(ComparisonError, match=message):
        parse_run_refs([value])


def test_runs_are_parsed_from_commas_and_repeated_values() -> None:
    refs = parse_run_refs([f"{A}:run-1, {B}:run-2", f"{B}:run-10"])
    assert [ref.key for ref in refs] == [f"{A}:run-1", f"{B}:run-2", f"{B}:run-10"]


def test_runs_of_two_experiments_on_the_same_items_are_tested_pairwise(store: Store) -> None:
    first = scored_experiment(store, [("local-tfidf", right)])
    second = scored_experiment(store, [("local-minilm", always("neutral"))])
    result = compare(chosen(store, f"{first}:run-1", f"{second}:run-1"))
    (pair,) = result["comparisons"]
    # 15 items; the always-"neutral" run is right on the 5 neutral ones only: 10 discordant pairs, all one way.
    assert result["n"] == 15 and pair["only_first_correct"] == 10 and pair["only_second_correct"] == 0
    assert pair["p_value"] == pytest.approx(2 * 0.5**10)
    assert result["best_run"] == f"{first}:run-1"
    assert result["verdict"].startswith(f"{first}:run-1 is better than {second}:run-1 by 0.67")
    left, other = result["runs"]
    assert left["accuracy"] == 1.0 and other["accuracy"] == pytest.approx(1 / 3)
    assert other["accuracy_ci95"][0] < 1 / 3 < other["accuracy_ci95"][1]
    assert other["macro_f1_ci95"] is not None


def test_runs_on_different_test_rows_are_refused_saying_what_differs(store: Store) -> None:
    first = scored_experiment(store, [("local-tfidf", right)])
    moved = scored_experiment(store, [("local-tfidf", right)], test_offset=120)
    with pytest.raises(ComparisonError, match=r"different test rows \(15 and 15 items; 15 only in"):
        compare(chosen(store, f"{first}:run-1", f"{moved}:run-1"))


def test_runs_on_another_dataset_are_refused(store: Store) -> None:
    first = scored_experiment(store, [("local-tfidf", right)])
    other = scored_experiment(store, [("local-tfidf", right)])
    store.update_experiment(other, dataset={**store.get_experiment(other)["dataset"], "sha256": "f" * 64})
    with pytest.raises(ComparisonError, match="was scored on dataset .* only runs on the same dataset"):
        compare(chosen(store, f"{first}:run-1", f"{other}:run-1"))


def test_a_run_without_scores_is_refused(store: Store) -> None:
    exp_id = scored_experiment(store, [("local-tfidf", right), ("local-minilm", right)])
    store.update_run(exp_id, "run-2", status="failed", metrics=None, error="boom")
    with pytest.raises(ComparisonError, match=f"{exp_id}:run-2 has no scores to compare \\(it is failed\\)"):
        compare(chosen(store, f"{exp_id}:run-1", f"{exp_id}:run-2"))


def test_the_leaderboard_ranks_finished_runs_per_test_set(store: Store) -> None:
    first = scored_experiment(store, [("local-tfidf", always("neutral")), ("local-minilm", right)])
    second = scored_experiment(store, [("local-tfidf", always("negative"))])
    moved = scored_experiment(store, [("local-tfidf", right)], test_offset=120)
    store.update_run(second, "run-1", status="failed")
    sha256 = store.get_experiment(first)["dataset"]["sha256"]

    same_items, other_items = leaderboard(store.experiments_using(sha256), sha256)
    assert same_items.keys == [f"{first}:run-2", f"{first}:run-1"]
    assert [row["accuracy"] for row in same_items.rows] == pytest.approx([1.0, 1 / 3])
    low, high = same_items.rows[1]["accuracy_ci95"]
    assert low < 1 / 3 < high
    assert other_items.keys == [f"{moved}:run-1"]
    assert leaderboard(store.experiments_using(sha256), "0" * 64) == []
