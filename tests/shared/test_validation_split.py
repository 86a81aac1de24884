"""The validation sample: drawn per class from rows outside train and test, by the rule in shared.dataset_sampling."""

from __future__ import annotations

import pytest

from shared.dataset_reading import DatasetError, Item
from shared.dataset_sampling import SamplingSpec, ValidationSplitError, split_items


def interleaved(counts: dict[str, int]) -> list[Item]:
    """Items interleaved by class (a0 b0 a1 b1 ...), so a class's i-th item is not the file's i-th row."""
    items: list[Item] = []
    for i in range(max(counts.values())):
        for label, count in counts.items():
            if i < count:
                items.append(Item(row=len(items), text=f"{label} text {i}", label=label))
    return items


def positions(chosen: list[Item], label: str, items: list[Item]) -> list[int]:
    """Where each chosen item of `label` stands among that class's items in file order."""
    of_class = [item.row for item in items if item.label == label]
    return [of_class.index(item.row) for item in chosen if item.label == label]


def test_balanced_validation_follows_train_and_skips_the_test_window():
    items = interleaved({"a": 20, "b": 20})
    spec = SamplingSpec(
        train_counts={"a": 3, "b": 2}, train_offset=0, test_counts={"a": 4, "b": 4}, test_offset=5, validation_count=6
    )
    split = split_items(items, spec)
    # a: train 0-2, test window 5-8, so validation takes 3, 4 then 9-12; b: train 0-1, validation 2-4 then 9-11
    assert positions(split.validation, "a", items) == [3, 4, 9, 10, 11, 12]
    assert positions(split.validation, "b", items) == [2, 3, 4, 9, 10, 11]
    assert positions(split.train, "a", items) == [0, 1, 2] and positions(split.test, "a", items) == [5, 6, 7, 8]
    rows = [{item.row for item in part} for part in (split.train, split.test, split.validation)]
    assert not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    assert split.to_dict()["validation_counts"] == {"a": 6, "b": 6}
    assert split.to_dict()["validation_rows"] == [item.row for item in split.validation]


def test_balanced_validation_with_the_test_window_before_train():
    items = interleaved({"a": 12, "b": 12})
    spec = SamplingSpec(
        train_counts={"a": 2, "b": 2}, train_offset=4, test_counts={"a": 2, "b": 2}, test_offset=0, validation_count=3
    )
    split = split_items(items, spec)
    assert positions(split.validation, "a", items) == [6, 7, 8]


def test_without_validation_the_split_is_unchanged_and_says_nothing_of_it():
    items = interleaved({"a": 20, "b": 20})
    for mode, seed in (("balanced", None), ("random", 3)):
        base = SamplingSpec(
            mode=mode, train_counts={"a": 3, "b": 3}, test_counts={"a": 3, "b": 3}, test_offset=5, seed=seed
        )
        with_validation = SamplingSpec(**{**base.to_dict(), "validation_count": 4})
        plain, validated = split_items(items, base), split_items(items, with_validation)
        assert plain.validation == [] and "validation_rows" not in plain.to_dict()
        assert "validation_count" not in base.to_dict(), "records made before validation existed keep their shape"
        assert (validated.train, validated.test) == (plain.train, plain.test), f"{mode}: train and test stay put"
        assert len(validated.validation) == 8


def test_random_validation_takes_the_next_rows_of_the_shuffle():
    items = interleaved({"a": 30, "b": 30})
    spec = SamplingSpec(
        mode="random", train_counts={"a": 5, "b": 5}, test_counts={"a": 5, "b": 5}, seed=11, validation_count=7
    )
    split = split_items(items, spec)
    assert len(split.validation) == 14 and {item.label for item in split.validation} == {"a", "b"}
    taken = [item.row for item in split.train + split.test + split.validation]
    assert len(taken) == len(set(taken))
    assert split_items(items, spec).validation == split.validation, "the seed reproduces the validation rows"


def test_too_few_rows_for_validation_says_how_many_there_are():
    items = interleaved({"a": 12, "b": 30})
    spec = SamplingSpec(train_counts={"a": 3, "b": 3}, test_counts={"a": 3, "b": 3}, test_offset=3, validation_count=7)
    with pytest.raises(ValidationSplitError) as error:
        split_items(items, spec)
    message = str(error.value)
    assert "'a'" in message and "needs 7" in message and "only 6" in message, message
    random = SamplingSpec(
        mode="random", train_counts={"a": 3, "b": 3}, test_counts={"a": 3, "b": 3}, seed=1, validation_count=7
    )
    with pytest.raises(ValidationSplitError, match="'a'.*only 6"):
        split_items(items, random)


def test_validation_count_must_be_a_whole_number():
    items = interleaved({"a": 12, "b": 12})
    for bad in (-1, "2", 1.5):
        with pytest.raises(DatasetError, match="validation count"):
            split_items(
                items,
                SamplingSpec(
                    train_counts={"a": 1, "b": 1}, test_counts={"a": 1, "b": 1}, test_offset=1, validation_count=bad
                ),
            )  # type: ignore[arg-type]


def test_from_dict_reads_old_records_as_no_validation():
    old = {
        "mode": "balanced",
        "train_counts": {"a": 1},
        "train_offset": 0,
        "test_counts": {"a": 1},
        "test_offset": 1,
        "seed": None,
    }
    assert SamplingSpec.from_dict(old).validation_count == 0
    assert SamplingSpec.from_dict({**old, "validation_count": 5}).to_dict()["validation_count"] == 5
