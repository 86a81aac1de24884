"""Form and API fields -> ExperimentSpec, with one error per field."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from shared.dataset_sampling import SamplingSpec
from shared.prompts import PRESETS
from shared.settings import load_settings
from web.experiment_form import UploadedDataset, initial_draft, parse_fields


@pytest.fixture
def dataset(sample_csv: bytes) -> UploadedDataset:
    return UploadedDataset(sha256="0" * 64, name="sample.csv", data=sample_csv)


def test_initial_draft_detects_columns_and_uses_reference_sampling(dataset):
    draft = initial_draft(dataset)
    assert (draft.values["text_column"], draft.values["label_column"]) == ("text", "airline_sentiment")
    assert draft.values["train_counts"] == {"neutral": 34, "positive": 33, "negative": 33}
    assert draft.counts == {"negative": 170, "neutral": 151, "positive": 133}
    assert draft.errors == {} and draft.spec is None


def test_defaults_give_the_reference_experiment(dataset):
    draft = parse_fields(MultiDict([("models", "local-tfidf"), ("models_other", "local-minilm, local-tfidf")]), dataset)
    assert draft.errors == {}
    spec = draft.spec
    assert spec.models == ["local-tfidf", "local-minilm"]
    assert spec.sampling == SamplingSpec()
    assert spec.prompt == PRESETS["reference"]
    assert len(draft.split.train) == len(draft.split.test) == 100


def test_edited_prompt_and_random_sampling(dataset):
    fields = MultiDict(
        [
            ("zero_shot", "smollm2-135m-instruct"),
            ("sampling_mode", "random"),
            ("user_template", "Label this: {text}"),
            ("counts_for", "airline_sentiment"),
            ("train_count:negative", "4"),
            ("train_count:positive", "4"),
            ("test_count:negative", "2"),
            ("test_count:positive", "2"),
        ]
    )
    draft = parse_fields(fields, dataset)
    assert draft.errors == {}
    assert draft.spec.sampling.mode == "random" and isinstance(draft.spec.sampling.seed, int)
    assert draft.values["sampling_seed"] == draft.spec.sampling.seed, "a drawn seed is shown so a re-check keeps it"
    assert draft.spec.prompt.user_template == "Label this: {text}"
    assert draft.spec.prompt.name == "reference-edited"
    assert sorted(draft.split.labels) == ["negative", "positive"]


def test_a_cleared_system_prompt_means_no_system_message(dataset):
    draft = parse_fields(MultiDict([("models", "local-tfidf"), ("system_prompt", "")]), dataset)
    assert draft.errors == {}
    assert draft.spec.prompt.system_prompt is None and draft.spec.prompt.name == "reference-edited"
    assert draft.values["system_prompt"] == ""


def test_counts_typed_for_another_label_column_are_not_applied(dataset):
    fields = MultiDict([("models", "m"), ("counts_for", "airline"), ("train_count:Virgin America", "3")])
    draft = parse_fields(fields, dataset)
    assert draft.errors == {}
    assert draft.spec.sampling.train_counts == SamplingSpec().train_counts


def test_errors_name_their_fields(dataset):
    fields = MultiDict(
        [("text_column", "missing"), ("batch_size", "0"), ("hp_seed", "x"), ("models", "bad name!"), ("preset", "nope")]
    )
    errors = parse_fields(fields, dataset).errors
    assert set(errors) == {"text_column", "batch_size", "hp_seed", "models", "preset"}
    assert "Available columns" in errors["text_column"]


def test_caps_land_on_their_fields(dataset):
    caps = load_settings({"TQ_MAX_MODELS": "2", "TQ_MAX_PROMPT_CHARS": "300", "TQ_MAX_CLASSES": "2"})
    errors = parse_fields(MultiDict([("models", "local-tfidf")]), dataset, caps).errors
    assert errors.keys() == {"label_column"} and "3 classes" in errors["label_column"]
    caps = load_settings({"TQ_MAX_MODELS": "2", "TQ_MAX_PROMPT_CHARS": "300"})
    errors = parse_fields(MultiDict([("models_other", "a, b, c")]), dataset, caps).errors
    assert errors.keys() == {"models"} and "3 models" in errors["models"]
    errors = parse_fields(MultiDict([("models", "a"), ("system_prompt", "x" * 301)]), dataset, caps).errors
    assert errors.keys() == {"system_prompt"} and "TQ_MAX_PROMPT_CHARS" in errors["system_prompt"]


def test_validation_count_draws_a_validation_sample_or_says_how_many_rows_there_are(dataset):
    draft = parse_fields(MultiDict([("models", "local-tfidf"), ("validation_count", "20")]), dataset)
    assert draft.errors == {}
    assert draft.spec.sampling.validation_count == 20 and draft.values["validation_count"] == 20
    assert len(draft.split.validation) == 60 and len(draft.split.train) == len(draft.split.test) == 100
    # positive has 133 rows: train takes 0-32 and test 100-132, which leaves 67 for validation
    errors = parse_fields(MultiDict([("models", "local-tfidf"), ("validation_count", "68")]), dataset).errors
    assert errors.keys() == {"validation_count"} and "'positive'" in errors["validation_count"]
    assert "only 67" in errors["validation_count"]
    errors = parse_fields(MultiDict([("models", "local-tfidf"), ("validation_count", "-1")]), dataset).errors
    assert errors.keys() == {"validation_count"}
    assert parse_fields(MultiDict([("models", "m")]), dataset).spec.sampling.validation_count == 0
