"""Caps on what one experiment may ask for (TQ_MAX_* settings), enforced where the spec and the record are built."""

from __future__ import annotations

import pytest

from shared.dataset_reading import DatasetError
from shared.dataset_sampling import SamplingSpec, reference_sampling
from shared.prompts import PRESETS
from shared.records import ExperimentSpec, RecordError, check_columns, new_experiment_record
from shared.settings import SettingsError, load_settings
from shared.store import Store

CAPS = {"TQ_MAX_MODELS": "3", "TQ_MAX_CLASSES": "4", "TQ_MAX_PROMPT_CHARS": "400", "TQ_MAX_COLUMNS": "5"}


def make_spec(settings=None, **changes) -> ExperimentSpec:
    values = dict(
        dataset_sha256="ab" * 32,
        dataset_name="t.csv",
        dataset_path=None,
        text_column="text",
        label_column="label",
        models=["local-tfidf"],
        zero_shot=[],
        sampling=reference_sampling(["negative", "neutral", "positive"]),
        prompt=PRESETS["reference"],
    )
    values.update(changes)
    return ExperimentSpec(**values, settings=settings)


def test_caps_have_defaults_and_are_read_from_the_environment():
    defaults = load_settings({})
    assert (defaults.max_models, defaults.max_classes, defaults.max_prompt_chars, defaults.max_columns) == (
        20,
        50,
        20_000,
        200,
    )
    settings = load_settings(CAPS)
    assert (settings.max_models, settings.max_classes, settings.max_prompt_chars, settings.max_columns) == (
        3,
        4,
        400,
        5,
    )
    with pytest.raises(SettingsError, match="TQ_MAX_MODELS"):
        load_settings({"TQ_MAX_MODELS": "0"})


def test_too_many_models_counting_both_kinds():
    settings = load_settings(CAPS)
    make_spec(settings, models=["a", "b"], zero_shot=["c"])
    with pytest.raises(RecordError, match=r"4 models .*at most 3.*TQ_MAX_MODELS") as raised:
        make_spec(settings, models=["a", "b"], zero_shot=["c", "d"])
    assert raised.value.field == "models"
    with pytest.raises(RecordError, match="10000 models"):
        make_spec(None, models=[f"m{i}" for i in range(10_000)])


def test_too_many_classes():
    settings = load_settings(CAPS)
    labels = [f"c{i}" for i in range(5)]
    with pytest.raises(RecordError, match=r"5 classes.*at most 4.*TQ_MAX_CLASSES") as raised:
        make_spec(
            settings,
            sampling=SamplingSpec(
                mode="random", seed=1, train_counts={c: 1 for c in labels}, test_counts={c: 1 for c in labels}
            ),
        )
    assert raised.value.field == "label_column"


@pytest.mark.parametrize("part, field", [("system_prompt", "system_prompt"), ("user_template", "user_template")])
def test_too_long_prompts(part, field):
    settings = load_settings(CAPS)
    prompt = PRESETS["reference"].edited(**{part: "{text}" + "x" * 395})
    with pytest.raises(RecordError, match=r"401 characters.*at most 400.*TQ_MAX_PROMPT_CHARS") as raised:
        make_spec(settings, prompt=prompt)
    assert raised.value.field == field


def test_the_record_rechecks_a_spec_changed_after_it_was_built(redis_url):
    """A script can append to `spec.models` after construction; the record (and so the store) still refuses."""
    spec = make_spec()
    spec.models.extend(f"m{i}" for i in range(10_000))
    with pytest.raises(RecordError, match="TQ_MAX_MODELS"):
        new_experiment_record(spec, "http://x/v1")
    store = Store.from_url(redis_url)
    store.client.flushdb()
    with pytest.raises(RecordError):
        store.create_experiment(spec, "http://x/v1")
    assert store.list_experiments() == []


def test_too_many_columns():
    settings = load_settings(CAPS)
    check_columns(["a"] * 5, settings)
    with pytest.raises(DatasetError, match=r"6 columns.*at most 5.*TQ_MAX_COLUMNS"):
        check_columns(["a"] * 6, settings)
