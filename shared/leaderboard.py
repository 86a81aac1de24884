"""A dataset's leaderboard: every finished (succeeded) run on it, best accuracy first, with 95 % intervals.

Runs are ranked only against runs scored on the same test items (`shared.comparison.ScoredItems`), so the board has
one table per distinct test set; a re-run keeps its original's test set and lands in the same table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.comparison import ComparedRun, RunRef, ScoredItems, compared_run, scored_items
from shared.record_types import ExperimentRecord


class LeaderboardRow(ComparedRun):
    """A run as a comparison shows it, and when it finished."""

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
            row = compared_run(RunRef(record["id"], run["id"]), record, run)
            boards.setdefault(items, Board(items)).rows.append({**row, "finished_at": run.get("finished_at")})
    for board in boards.values():
        board.rows.sort(key=lambda row: (row["accuracy"], row["macro_f1"]), reverse=True)
    return sorted(boards.values(), key=lambda board: len(board.rows), reverse=True)
