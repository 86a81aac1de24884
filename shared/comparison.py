"""Comparing runs across experiments: side by side, and tested pairwise when they were scored on the same items.

Runs are named `<exp_id>:<run_id>`. Two runs are scored on the same test items when their experiments read the same
dataset (its sha256), took the text and label from the same columns and drew the same test rows; only then are they
compared item by item with `shared.significance` (a re-run keeps its original's split for exactly this reason).
Anything else is a `ComparisonError` that says what differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypedDict, cast

from shared.record_types import ComparisonBody, ExperimentRecord, Metrics, Run, RunKind
from shared.records import is_experiment_id, is_run_id, not_a_run_id, not_an_experiment_id
from shared.significance import best_run, compare_runs, correctness, macro_f1_interval, wilson_interval

MAX_COMPARED_RUNS: Final = 10
"""Runs one comparison takes (it tests every pair: 45 tests at 10 runs)."""
EXAMPLE: Final = "runs=exp_0123456789ab:run-1,exp_ba9876543210:run-2"


class ComparisonError(ValueError):
    """The runs asked for cannot be compared; the message says why and how to fix the request."""


@dataclass(frozen=True)
class RunRef:
    """One run of one experiment, written `<exp_id>:<run_id>`."""

    exp_id: str
    run_id: str

    @property
    def key(self) -> str:
        return f"{self.exp_id}:{self.run_id}"


@dataclass(frozen=True)
class ScoredItems:
    """What a run was scored on: the dataset, its columns, and the test rows drawn from it."""

    sha256: str
    text_column: str
    label_column: str
    rows: tuple[int, ...]


class ComparedRun(TypedDict):
    """One run in a comparison, with 95 % intervals (Wilson for accuracy, bootstrap for macro-F1)."""

    key: str
    experiment: str
    run: str
    base_model: str
    kind: RunKind
    fine_tuned_model: str | None
    prompt: str
    accuracy: float
    accuracy_ci95: list[float]
    macro_f1: float
    macro_f1_ci95: list[float] | None
    invalid: int
    n: int


class CrossComparisonBody(TypedDict):
    """Runs side by side with a paired test for every pair (all were scored on the same `n` test items of the
    dataset); `best_run` is the top run only when it is significantly better than the runner-up, and `verdict`
    says so in words."""

    dataset_sha256: str
    dataset_name: str
    n: int
    runs: list[ComparedRun]
    comparisons: list[ComparisonBody]
    best_run: str | None
    verdict: str


def parse_run_refs(values: Iterable[str]) -> list[RunRef]:
    """`<exp_id>:<run_id>` references from query values, each value possibly comma-separated; raises
    ComparisonError for a malformed, repeated, missing or surplus one."""
    refs: list[RunRef] = []
    for part in (part.strip() for value in values for part in value.split(",")):
        if not part:
            continue
        exp_id, colon, run_id = part.partition(":")
        if not colon:
            raise ComparisonError(f"{part[:80]!r} does not name a run; write <exp_id>:<run_id>, as in {EXAMPLE}")
        if not is_experiment_id(exp_id):
            raise ComparisonError(not_an_experiment_id(exp_id[:80]))
        if not is_run_id(run_id):
            raise ComparisonError(not_a_run_id(run_id))
        ref = RunRef(exp_id, run_id)
        if ref in refs:
            raise ComparisonError(f"{ref.key} is named twice; name each run once")
        refs.append(ref)
    if len(refs) < 2:
        raise ComparisonError(f"name at least two runs to compare, as in {EXAMPLE}")
    if len(refs) > MAX_COMPARED_RUNS:
        raise ComparisonError(f"{len(refs)} runs named; one comparison takes at most {MAX_COMPARED_RUNS}")
    return refs


def scored_items(record: ExperimentRecord) -> ScoredItems | None:
    """What the experiment's runs were scored on; None before its split was drawn."""
    split = record.get("split")
    if not split:
        return None
    dataset = record["dataset"]
    return ScoredItems(
        sha256=dataset["sha256"],
        text_column=dataset["columns"]["text"],
        label_column=dataset["columns"]["label"],
        rows=tuple(sorted(split["test_rows"])),
    )


def difference(first: str, a: ScoredItems, second: str, b: ScoredItems, names: tuple[str, str]) -> str | None:
    """Why runs `first` and `second` were not scored on the same test items (None when they were)."""
    if a.sha256 != b.sha256:
        return (
            f"{first} was scored on dataset {names[0]} ({a.sha256[:12]}) and {second} on {names[1]} "
            f"({b.sha256[:12]}); only runs on the same dataset can be compared"
        )
    if (a.text_column, a.label_column) != (b.text_column, b.label_column):
        return (
            f"{first} reads text from {a.text_column!r} and labels from {a.label_column!r}, {second} from "
            f"{b.text_column!r} and {b.label_column!r}; only runs on the same columns can be compared"
        )
    if a.rows != b.rows:
        only_a, only_b = len(set(a.rows) - set(b.rows)), len(set(b.rows) - set(a.rows))
        return (
            f"{first} and {second} were scored on different test rows ({len(a.rows)} and {len(b.rows)} items; "
            f"{only_a} only in {first}'s test set, {only_b} only in {second}'s); re-run one experiment with "
            f"the other's models (POST /api/experiments/<id>/rerun) to score them on the same items"
        )
    return None


def accuracy_ci95(metrics: Metrics) -> list[float]:
    """The run's Wilson interval for accuracy: the one its metrics carry, else computed from accuracy and n."""
    stored = cast(Mapping[str, object], metrics).get("accuracy_ci95")
    if isinstance(stored, list):
        return [float(bound) for bound in stored]
    return wilson_interval(round(metrics["accuracy"] * metrics["n"]), metrics["n"])


def macro_f1_ci95(metrics: Metrics, run: Run | None = None, labels: Sequence[str] = ()) -> list[float] | None:
    """The run's bootstrap interval for macro-F1: the one its metrics carry, else computed from its predictions
    (None without them)."""
    stored = cast(Mapping[str, object], metrics).get("macro_f1_ci95")
    if isinstance(stored, list):
        return [float(bound) for bound in stored]
    predictions = run.get("predictions") if run is not None else None
    if not predictions or not labels:
        return None
    return macro_f1_interval([p["expected"] for p in predictions], [p["predicted"] for p in predictions], labels)


def compared_run(ref: RunRef, record: ExperimentRecord, run: Run) -> ComparedRun:
    metrics = run["metrics"]
    assert metrics is not None, "compare() checks that every run was scored"
    split = record.get("split")
    return {
        "key": ref.key,
        "experiment": ref.exp_id,
        "run": ref.run_id,
        "base_model": run["base_model"],
        "kind": run["kind"],
        "fine_tuned_model": run.get("fine_tuned_model"),
        "prompt": record["prompt"]["preset"],
        "accuracy": metrics["accuracy"],
        "accuracy_ci95": accuracy_ci95(metrics),
        "macro_f1": metrics["macro_f1"],
        "macro_f1_ci95": macro_f1_ci95(metrics, run, split["labels"] if split else ()),
        "invalid": metrics["invalid"],
        "n": metrics["n"],
    }


def compare(chosen: Sequence[tuple[RunRef, ExperimentRecord, Run]]) -> CrossComparisonBody:
    """Compare runs (each with its experiment record and its run, predictions included); raises ComparisonError
    when one was not scored, or they were not all scored on the same test items."""
    items: list[ScoredItems] = []
    for ref, record, run in chosen:
        scored_on = scored_items(record)
        if run["status"] != "succeeded" or not run.get("metrics") or scored_on is None:
            raise ComparisonError(
                f"{ref.key} has no scores to compare (it is {run['status']}); pick runs that succeeded"
            )
        items.append(scored_on)
    first, first_record, _ = chosen[0]
    for (ref, record, _), scored_on in zip(chosen[1:], items[1:], strict=True):
        why = difference(
            first.key, items[0], ref.key, scored_on, (first_record["dataset"]["name"], record["dataset"]["name"])
        )
        if why is not None:
            raise ComparisonError(why)
    scored = {ref.key: correctness(run["predictions"]) for ref, _, run in chosen}
    incomplete = [key for key, rows in scored.items() if tuple(sorted(rows)) != items[0].rows]
    if incomplete:
        raise ComparisonError(
            f"{', '.join(incomplete)} lack(s) an answer for some test items, so cannot be "
            f"compared item by item; retry the run (POST .../runs/<run_id>/retry)"
        )
    comparisons = compare_runs(scored)
    runs = [compared_run(ref, record, run) for ref, record, run in chosen]
    best, verdict = best_run({run["key"]: run["accuracy"] for run in runs}, comparisons)
    return {
        "dataset_sha256": items[0].sha256,
        "dataset_name": first_record["dataset"]["name"],
        "n": len(items[0].rows),
        "runs": runs,
        "comparisons": [c.to_dict() for c in comparisons],
        "best_run": best,
        "verdict": verdict,
    }
