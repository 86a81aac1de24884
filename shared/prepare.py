"""The prepare step: read the stored dataset (in the format its file name says), draw the train/test (and
validation) split, and store it for the later steps."""

from __future__ import annotations

from shared.dataset_reading import Item, read_items
from shared.dataset_sampling import SamplingSpec, Split, split_items
from shared.estimates import run_estimates
from shared.prompts import PromptPreset
from shared.record_types import StoredItem, StoredItems
from shared.run_state import StepError, check_not_cancelled, experiment_record
from shared.store import NotFound, Store


def split_to_json(split: Split) -> StoredItems:
    def items(chosen: list[Item]) -> list[StoredItem]:
        return [{"row": item.row, "text": item.text, "label": item.label} for item in chosen]

    return {
        "train": items(split.train),
        "test": items(split.test),
        "labels": list(split.labels),
        "validation": items(split.validation),
    }


def split_from_json(data: StoredItems) -> Split:
    """The stored split; items stored before validation samples existed have none."""
    return Split(
        train=[Item(**item) for item in data["train"]],
        test=[Item(**item) for item in data["test"]],
        labels=list(data["labels"]),
        validation=[Item(**item) for item in data.get("validation", [])],
    )


def load_split(store: Store, exp_id: str) -> Split:
    """The split `prepare` stored (upload and evaluate read their items from it, never from the dataset file)."""
    data = store.get_items(exp_id)
    if data is None:
        raise StepError(f"experiment {exp_id} has no prepared items; its prepare step never finished")
    return split_from_json(data)


def prepare(store: Store, exp_id: str) -> Split:
    """Read the stored dataset, draw the train/test split, and record it (rows, per-class counts, labels)."""
    check_not_cancelled(store, exp_id)
    record = experiment_record(store, exp_id)
    store.update_experiment(exp_id, status="preparing")
    dataset = record["dataset"].copy()
    try:
        data = store.get_dataset(dataset["sha256"])
    except NotFound as exc:
        raise StepError(str(exc)) from exc
    items = read_items(data, dataset["columns"]["text"], dataset["columns"]["label"], name=dataset["name"])
    split = split_items(items, SamplingSpec.from_dict(record["sampling"]))
    store.save_items(exp_id, split_to_json(split))
    dataset["n_rows"], dataset["n_items"], dataset["dropped_rows"] = items.n_rows, len(items), len(items.dropped_rows)
    dataset["class_counts"] = items.class_counts()
    store.update_experiment(exp_id, status="running", dataset=dataset, split=split.to_dict())
    estimates = run_estimates(
        split, PromptPreset.from_dict(record["prompt"]), record["runs"], record["hyperparameters"]["n_epochs"]
    )
    for run_id, estimate in estimates.items():
        store.update_run(exp_id, run_id, cost_estimate_usd=estimate)
    validation = f", {len(split.validation)} validation" if split.validation else ""
    store.add_event(
        exp_id,
        None,
        f"prepared {len(split.train)} training{validation} and {len(split.test)} test "
        f"items ({', '.join(split.labels)}) from {items.n_rows} rows",
    )
    return split
