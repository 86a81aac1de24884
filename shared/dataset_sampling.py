"""Sampling: how train and test items are drawn from the items of a dataset (`SamplingSpec`), and the drawn `Split`.

The default sampling reproduces the reference experiment (a pandas script) exactly: per class, in file order, train
takes `train_counts[label]` rows from `train_offset` and test takes `test_counts[label]` rows from `test_offset`;
train lists classes in the order of `train_counts` (neutral, positive, negative), as the reference concatenates them.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shared.dataset_reading import DatasetError, Item, class_counts

REFERENCE_LABELS = ("negative", "neutral", "positive")
REFERENCE_TRAIN_COUNTS = {"neutral": 34, "positive": 33, "negative": 33}
REFERENCE_TEST_OFFSET = 100
REFERENCE_SAMPLE_SIZE = 100


@dataclass(frozen=True)
class SamplingSpec:
    """How to draw train and test items. Counts map label -> number of items of that class.

    "balanced": per class in file order, `train_offset`/`test_offset` say where each sample starts.
    "random": per class, a shuffle seeded by `seed`; train takes the first items, test the next (offsets unused)."""

    mode: Literal["balanced", "random"] = "balanced"
    train_counts: Mapping[str, int] = field(default_factory=lambda: dict(REFERENCE_TRAIN_COUNTS))
    train_offset: int = 0
    test_counts: Mapping[str, int] = field(default_factory=lambda: dict(REFERENCE_TRAIN_COUNTS))
    test_offset: int = REFERENCE_TEST_OFFSET
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["train_counts"] = dict(self.train_counts)
        data["test_counts"] = dict(self.test_counts)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingSpec:
        return cls(
            mode=data.get("mode", "balanced"),
            train_counts=dict(data["train_counts"]),
            train_offset=int(data.get("train_offset", 0)),
            test_counts=dict(data["test_counts"]),
            test_offset=int(data.get("test_offset", 0)),
            seed=data.get("seed"),
        )


@dataclass(frozen=True)
class Split:
    train: list[Item]
    test: list[Item]
    labels: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The record's `split` section: row numbers and per-class counts."""
        return {
            "train_rows": [item.row for item in self.train],
            "test_rows": [item.row for item in self.test],
            "train_counts": class_counts(self.train),
            "test_counts": class_counts(self.test),
            "labels": list(self.labels),
        }


def _check_labels(labels: Sequence[str]) -> None:
    if len(set(labels)) < 2:
        found = f"only the class {labels[0]!r}" if labels else "no class"
        raise DatasetError(
            f"The label column has {found}; a classifier needs at least two classes. Check that the "
            f"label column is the right one and that the file holds examples of every class."
        )


def even_counts(labels: Sequence[str], total: int) -> dict[str, int]:
    """Split `total` over the labels (sorted) as evenly as possible, the first labels taking the remainder."""
    ordered = sorted(set(labels))
    base, extra = divmod(total, len(ordered))
    if base == 0:
        raise DatasetError(
            f"{len(ordered)} classes cannot share {total} examples (at least one each); use fewer "
            f"classes or a larger sample."
        )
    return {label: base + (1 if i < extra else 0) for i, label in enumerate(ordered)}


def reference_sampling(labels: Iterable[str]) -> SamplingSpec:
    """The reference experiment's split: for negative/neutral/positive exactly its 34/33/33 per class from offset 0
    (train) and 100 (test); for any other label set, 100 train and 100 test items shared evenly, same offsets."""
    labels = sorted(set(labels))
    _check_labels(labels)
    if tuple(labels) == REFERENCE_LABELS:
        counts = dict(REFERENCE_TRAIN_COUNTS)
    else:
        counts = even_counts(labels, REFERENCE_SAMPLE_SIZE)
    return SamplingSpec(
        mode="balanced",
        train_counts=counts,
        train_offset=0,
        test_counts=dict(counts),
        test_offset=REFERENCE_TEST_OFFSET,
        seed=None,
    )


def random_sampling(
    labels: Iterable[str], train_per_class: int, test_per_class: int, seed: int | None = None
) -> SamplingSpec:
    """A random stratified split; without a seed one is drawn and recorded so the split can be reproduced."""
    labels = sorted(set(labels))
    _check_labels(labels)
    return SamplingSpec(
        mode="random",
        train_counts={label: train_per_class for label in labels},
        train_offset=0,
        test_counts={label: test_per_class for label in labels},
        test_offset=0,
        seed=secrets.randbelow(2**31) if seed is None else seed,
    )


def _by_class(items: Iterable[Item]) -> dict[str, list[Item]]:
    grouped: dict[str, list[Item]] = {}
    for item in items:
        grouped.setdefault(item.label, []).append(item)
    return grouped


def _validate_spec(spec: SamplingSpec, grouped: Mapping[str, list[Item]]) -> None:
    if spec.mode not in ("balanced", "random"):
        raise DatasetError(f"Unknown sampling mode {spec.mode!r}; use 'balanced' or 'random'.")
    _check_labels(sorted(grouped))
    for name, counts, offset in (
        ("train", spec.train_counts, spec.train_offset),
        ("test", spec.test_counts, spec.test_offset),
    ):
        if not isinstance(offset, int) or offset < 0:
            raise DatasetError(f"The {name} offset is {offset!r}; it must be a whole number, 0 or more.")
        for label, count in counts.items():
            if not isinstance(count, int) or count < 0:
                raise DatasetError(
                    f"The {name} count for {label!r} is {count!r}; it must be a whole number, 0 or more."
                )
            if label not in grouped:
                present = ", ".join(repr(known) for known in sorted(grouped))
                raise DatasetError(
                    f"The {name} sample asks for class {label!r}, which is not in the label column. "
                    f"Classes present: {present}."
                )
    trained_classes = [label for label, count in spec.train_counts.items() if count > 0]
    if len(trained_classes) < 2:
        raise DatasetError(
            f"The train sample has items of {len(trained_classes)} class(es); a classifier needs at "
            f"least two: give two or more classes a train count above 0."
        )
    if sum(spec.test_counts.values()) == 0:
        raise DatasetError("The test sample is empty; give at least one class a test count above 0.")


def _balanced(spec: SamplingSpec, grouped: Mapping[str, list[Item]], name: str) -> list[Item]:
    counts, offset = (spec.train_counts, spec.train_offset) if name == "train" else (spec.test_counts, spec.test_offset)
    chosen: list[Item] = []
    for label, count in counts.items():
        available = len(grouped[label])
        if offset + count > available:
            raise DatasetError(
                f"Too few rows of class {label!r}: the {name} sample needs {count} from position {offset} "
                f"(that class's rows {offset} to {offset + count - 1} in file order) but the file has only "
                f"{available}. Lower the {name} count or offset for {label!r}, or use a file with more {label!r} rows."
            )
        chosen.extend(grouped[label][offset : offset + count])
    return chosen


def _random(spec: SamplingSpec, grouped: Mapping[str, list[Item]]) -> tuple[list[Item], list[Item]]:
    if spec.seed is None:
        raise DatasetError("Random sampling needs a seed so the split can be reproduced; set one.")
    rng = random.Random(spec.seed)
    train: list[Item] = []
    test: list[Item] = []
    for label in sorted(set(spec.train_counts) | set(spec.test_counts)):
        pool = list(grouped[label])
        n_train, n_test = spec.train_counts.get(label, 0), spec.test_counts.get(label, 0)
        if n_train + n_test > len(pool):
            raise DatasetError(
                f"Too few rows of class {label!r}: random sampling needs {n_train} train + {n_test} test = "
                f"{n_train + n_test} but the file has only {len(pool)}. Lower the counts for {label!r}."
            )
        rng.shuffle(pool)
        train.extend(sorted(pool[:n_train], key=lambda item: item.row))
        test.extend(sorted(pool[n_train : n_train + n_test], key=lambda item: item.row))
    return train, test


def split_items(items: Sequence[Item], spec: SamplingSpec) -> Split:
    """Draw the train and test items; raises DatasetError when impossible, and checks they share no row."""
    grouped = _by_class(items)
    _validate_spec(spec, grouped)
    if spec.mode == "balanced":
        train, test = _balanced(spec, grouped, "train"), _balanced(spec, grouped, "test")
    else:
        train, test = _random(spec, grouped)
    overlap = sorted({item.row for item in train} & {item.row for item in test})
    if overlap:
        raise DatasetError(
            f"Train and test share {len(overlap)} row(s) (first: row {overlap[0]}), so the test would score rows the "
            f"model was trained on. Move the test offset ({spec.test_offset}) to at least "
            f"{spec.train_offset + max(spec.train_counts.values())} (train offset + largest train count), or lower "
            f"the counts."
        )
    labels = sorted(set(spec.train_counts) | set(spec.test_counts))
    return Split(train=train, test=test, labels=labels)
