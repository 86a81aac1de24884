"""The prepare step: read the stored CSV, draw the train/test split, and store it for the later steps."""

from __future__ import annotations

from shared.dataset_reading import Item, class_counts, items_from_rows, read_table
from shared.dataset_sampling import SamplingSpec, Split, split_items
from shared.record_types import StoredItem, StoredItems
from shared.run_state import StepError, check_not_cancelled, experiment_record
from shared.store import NotFound, Store


def split_to_json(split: Split) -> StoredItems:
    def items(chosen: list[Item]) -> list[StoredItem]:
        return [{"row": item.row, "text": item.text, "label": item.label} for item in chosen]

    return {"train": items(split.train), "test": items(split.test), "labels": list(split.labels)}


def split_from_json(data: StoredItems) -> Split:
    return Split(
        train=[Item(**item) for item in data["train"]],
        test=[Item(**item) for item in data["test"]],
        labels=list(data["labels"]),
    )


def load_split(store: Store, exp_id: str) -> Split:
    """The split `prepare` stored (upload and evaluate read their items from it, never from the CSV)."""
    data = store.get_items(exp_id)
    if data is None:
        raise StepError(f"experiment {exp_id} has no prepared items; its prepare step never finished")
    return split_from_json(data)


def prepare(store: Store, exp_id: str) -> Split:
    """Read the stored CSV, draw the train/test split, and record it (rows, per-class counts, labels)."""
    check_not_cancelled(store, exp_id)
    record = experiment_record(store, exp_id)
    store.update_experiment(exp_id, status="preparing")
    dataset = record["dataset"].copy()
    try:
        data = store.get_dataset(dataset["sha256"])
    except NotFound as exc:
        raise StepError(str(exc)) from exc
    header, rows = read_table(data)
    items, dropped = items_from_rows(header, rows, dataset["columns"]["text"], dataset["columns"]["label"])
    split = split_items(items, SamplingSpec.from_dict(record["sampling"]))
    store.save_items(exp_id, split_to_json(split))
    dataset["n_rows"], dataset["n_items"], dataset["dropped_rows"] = len(rows), len(items), len(dropped)
    dataset["class_counts"] = class_counts(items)
    store.update_experiment(exp_id, status="running", dataset=dataset, split=split.to_dict())
    store.add_event(
        exp_id,
        None,
        f"prepared {len(split.train)} training and {len(split.test)} test items "
        f"({', '.join(split.labels)}) from {len(rows)} rows",
    )
    return split
