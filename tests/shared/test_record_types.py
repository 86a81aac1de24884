"""The record types match what `shared.records` builds and `shared.store` serves."""

from __future__ import annotations

from typing import get_type_hints

from shared.dataset_sampling import reference_sampling
from shared.record_types import (
    EXPERIMENT_STATUSES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    ExperimentRecord,
    Hyperparameters,
    Prompt,
    Run,
    Sampling,
)
from shared.records import ExperimentSpec, new_experiment_record, new_run_record


def spec() -> ExperimentSpec:
    return ExperimentSpec(
        dataset_sha256="ab" * 32,
        dataset_name="t.csv",
        dataset_path=None,
        text_column="text",
        label_column="label",
        models=["local-tfidf"],
        zero_shot=["local-minilm"],
        sampling=reference_sampling(["negative", "neutral", "positive"]),
    )


def required(typed_dict: type) -> set[str]:
    return set(typed_dict.__required_keys__)


def test_a_new_record_has_exactly_the_typed_keys():
    record = new_experiment_record(spec(), "http://127.0.0.1:8100/v1")
    assert set(record) == set(get_type_hints(ExperimentRecord)) == required(ExperimentRecord)
    assert record["schema_version"] == SCHEMA_VERSION and record["status"] in EXPERIMENT_STATUSES
    assert set(record["sampling"]) == required(Sampling)
    assert set(record["prompt"]) == required(Prompt)
    assert set(record["hyperparameters"]) == required(Hyperparameters)
    for run in record["runs"]:
        assert set(run) == required(Run) and run["status"] in RUN_STATUSES


def test_keys_written_later_are_optional_in_the_run_type():
    run = new_run_record("run-1", "local-tfidf", "fine-tuned")
    later = set(get_type_hints(Run)) - set(run)
    assert later == {"deadline_at", "training_started_at", "evaluated_model"}
    assert not later & required(Run)
