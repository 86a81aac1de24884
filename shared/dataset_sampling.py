"""Sampling: how train and test items are drawn from the items of a dataset (`SamplingSpec`), and the drawn `Split`.

The default sampling reproduces the reference experiment (a pandas script) exactly: per class, in file order, train
takes `train_counts[label]` rows from `train_offset` and test takes `test_counts[label]` rows from `test_offset`;
train lists classes in the order of `train_counts` (neutral, positive, negative), as the reference concatenates them.

The validation sample (`validation_count` rows per class, 0 by default) never touches train or test, and adding it
never moves them. Balanced: per class in file order, the rows right after that class's train rows, skipping the
test window (`test_offset` to `test_offset + test_counts[label] - 1`) wherever it falls. Random: per class, the
rows of the seeded shuffle after the train and test rows.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shared.dataset_reading import DatasetError, Item, class_counts, group_by_label

REFERENCE_LABELS = ("negative", "neutral", "positive")
REFERENCE_TRAIN_COUNTS = {"neutral": 34, "positive": 33, "negative": 33}
REFERENCE_TEST_OFFSET = 100
REFERENCE_SAMPLE_SIZE = 100


@dataclass(frozen=True)
class SamplingSpec:
    """How to draw train and test items. Counts map label -> number of items of that class.

    "balanced": per class in file order, `train_offset`/`test_offset` say where each sample starts.
    "random": per class, a shuffle seeded by `seed`; train takes the first items, test the next (offsets unused).
    `validation_count` rows of every class go to the validation sample, by the rule in the module docstring."""

    mode: Literal["balanced", "random"] = "balanced"
    train_counts: Mapping[str, int] = field(default_factory=lambda: dict(REFERENCE_TRAIN_COUNTS))
    train_offset: int = 0
    test_counts: Mapping[str, int] = field(default_factory=lambda: dict(REFERENCE_TRAIN_COUNTS))
    test_offset: int = REFERENCE_TEST_OFFSET
    seed: int | None = None
    validation_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The record's `sampling`; `validation_count` only when above 0, so earlier records keep their shape."""
        data = asdict(self)
        data["train_counts"] = dict(self.train_counts)
        data["test_counts"] = dict(self.test_counts)
        if not self.validation_count:
            del data["validation_count"]
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
            validation_count=int(data.get("validation_count", 0)),
        )


class ValidationSplitError(DatasetError):
    """The validation sample cannot be drawn (the form shows it on its validation field)."""


@dataclass(frozen=True)
class Split:
    train: list[Item]
    test: list[Item]
    labels: list[str]
    validation: list[Item] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The record's `split` section: row numbers and per-class counts (validation ones only when there is a
        validation sample)."""
        data: dict[str, Any] = {
            "train_rows": [item.row for item in self.train],
            "test_rows": [item.row for item in self.test],
            "train_counts": class_counts(self.train),
            "test_counts": class_counts(self.test),
            "labels": list(self.labels),
        }
        if self.validation:
            data.update(
                validation_rows=[item.row for item in self.validation], validation_counts=class_counts(self.validation)
            )
        return data


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


def _validate_spec(spec: SamplingSpec, grouped: Mapping[str, Sequence[Item]]) -> None:
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
    if not isinstance(spec.validation_count, int) or spec.validation_count < 0:
        raise DatasetError(
            f"The validation count is {spec.validation_count!r}; it must be a whole number of rows per "
            f"class, 0 (no validation file) or more."
        )
    trained_classes = [label for label, count in spec.train_counts.items() if count > 0]
    if len(trained_classes) < 2:
        raise DatasetError(
            f"The train sample has items of {len(trained_classes)} class(es); a classifier needs at "
            f"least two: give two or more classes a train count above 0."
        )
    if sum(spec.test_counts.values()) == 0:
        raise DatasetError("The test sample is empty; give at least one class a test count above 0.")


def _balanced(spec: SamplingSpec, grouped: Mapping[str, Sequence[Item]], name: str) -> list[Item]:
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


def _balanced_validation(
    spec: SamplingSpec, grouped: Mapping[str, Sequence[Item]], labels: Sequence[str]
) -> list[Item]:
    """Per class, the first `validation_count` rows after the train rows that are outside the test window."""
    chosen: list[Item] = []
    for label in labels:
        group = grouped[label]
        start = spec.train_offset + spec.train_counts.get(label, 0)
        test_window = range(spec.test_offset, spec.test_offset + spec.test_counts.get(label, 0))
        free = [position for position in range(start, len(group)) if position not in test_window]
        if len(free) < spec.validation_count:
            raise ValidationSplitError(
                f"Too few rows of class {label!r} for the validation sample: it needs {spec.validation_count} rows "
                f"of that class after its train rows (from position {start} in file order) and outside its test "
                f"rows, but the file has only {len(free)} such rows. Lower the validation count to {len(free)} or "
                f"less, or move the test offset."
            )
        chosen.extend(group[position] for position in free[: spec.validation_count])
    return chosen


def _random(
    spec: SamplingSpec, grouped: Mapping[str, Sequence[Item]], labels: Sequence[str]
) -> tuple[list[Item], list[Item], list[Item]]:
    if spec.seed is None:
        raise DatasetError("Random sampling needs a seed so the split can be reproduced; set one.")
    rng = random.Random(spec.seed)
    train: list[Item] = []
    test: list[Item] = []
    validation: list[Item] = []
    for label in labels:
        group = grouped[label]
        # Shuffle positions, not items: the same permutation, without making an item for every row of the class.
        pool = list(range(len(group)))
        n_train, n_test = spec.train_counts.get(label, 0), spec.test_counts.get(label, 0)
        if n_train + n_test > len(pool):
            raise DatasetError(
                f"Too few rows of class {label!r}: random sampling needs {n_train} train + {n_test} test = "
                f"{n_train + n_test} but the file has only {len(pool)}. Lower the counts for {label!r}."
            )
        left = len(pool) - n_train - n_test
        if spec.validation_count > left:
            raise ValidationSplitError(
                f"Too few rows of class {label!r} for the validation sample: it needs {spec.validation_count} rows "
                f"of that class besides its {n_train} train and {n_test} test rows, but the file has only {left} "
                f"more. Lower the validation count to {left} or less."
            )
        rng.shuffle(pool)
        end = n_train + n_test
        train.extend(sorted((group[i] for i in pool[:n_train]), key=lambda item: item.row))
        test.extend(sorted((group[i] for i in pool[n_train:end]), key=lambda item: item.row))
        validation.extend(
            sorted((group[i] for i in pool[end : end + spec.validation_count]), key=lambda item: item.row)
        )
    return train, test, validation


def split_items(items: Sequence[Item], spec: SamplingSpec) -> Split:
    """Draw the train, test and validation items; raises DatasetError when impossible, and checks that no two
    samples share a row."""
    grouped = group_by_label(items)
    _validate_spec(spec, grouped)
    labels = sorted(set(spec.train_counts) | set(spec.test_counts))
    if spec.mode == "balanced":
        train, test = _balanced(spec, grouped, "train"), _balanced(spec, grouped, "test")
        validation = _balanced_validation(spec, grouped, labels) if spec.validation_count else []
    else:
        train, test, validation = _random(spec, grouped, labels)
    overlap = sorted({item.row for item in train} & {item.row for item in test})
    if overlap:
        raise DatasetError(
            f"Train and test share {len(overlap)} row(s) (first: row {overlap[0]}), so the test would score rows the "
            f"model was trained on. Move the test offset ({spec.test_offset}) to at least "
            f"{spec.train_offset + max(spec.train_counts.values())} (train offset + largest train count), or lower "
            f"the counts."
        )
    validation_rows = {item.row for item in validation}
    assert not validation_rows & {item.row for item in train + test}, "validation rows are drawn outside both"
    return Split(train=train, test=test, labels=labels, validation=validation)
