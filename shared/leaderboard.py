"""A dataset's leaderboard: every finished (succeeded) run on it, best accuracy first, with 95 % intervals.

Runs are ranked only against runs scored on the same test items (`shared.comparison.ScoredItems`), so the board has
one table per distinct test set; a re-run keeps its original's test set and lands in the same table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict

from shared.comparison import ScoredItems, accuracy_ci95, macro_f1_ci95, scored_items
from shared.record_types import ExperimentRecord, RunKind


class LeaderboardRow(TypedDict):
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
    n: int
    finished_at: str | None


@dataclass
class Board:
    """The runs scored on one test set, best accuracy (then macro-F1) first."""

    items: ScoredItems
    rows: list[LeaderboardRow] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [row["key"] for row in self.rows]


def leaderboard(records: Iterable[ExperimentRecord], sha256: str) -> list[Board]:
    """The boards of the dataset `sha256`: one per test set, the one with the most runs first."""
    boards: dict[ScoredItems, Board] = {}
    for record in records:
        items = scored_items(record)
        if items is None or items.sha256 != sha256:
            continue
        for run in record["runs"]:
            metrics = run.get("metrics")
            if run["status"] != "succeeded" or not metrics:
                continue
            boards.setdefault(items, Board(items)).rows.append(
                {
                    "key": f"{record['id']}:{run['id']}",
                    "experiment": record["id"],
                    "run": run["id"],
                    "base_model": run["base_model"],
                    "kind": run["kind"],
                    "fine_tuned_model": run.get("fine_tuned_model"),
                    "prompt": record["prompt"]["preset"],
                    "accuracy": metrics["accuracy"],
                    "accuracy_ci95": accuracy_ci95(metrics),
                    "macro_f1": metrics["macro_f1"],
                    "macro_f1_ci95": macro_f1_ci95(metrics),
                    "n": metrics["n"],
                    "finished_at": run.get("finished_at"),
                }
            )
    for board in boards.values():
        board.rows.sort(key=lambda row: (row["accuracy"], row["macro_f1"]), reverse=True)
    return sorted(boards.values(), key=lambda board: len(board.rows), reverse=True)
