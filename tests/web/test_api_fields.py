"""The API's JSON body flattened into form fields."""

from __future__ import annotations

import pytest

from web.api_fields import BodyError, json_to_fields


def test_json_body_maps_onto_form_fields():
    fields = json_to_fields(
        {
            "text_column": "t",
            "models": ["a", "b"],
            "zero_shot": "c",
            "prompt": {"preset": "consistent", "user_template": "{text}?"},
            "sampling": {"mode": "random", "seed": 3, "train_counts": {"x": 2}},
            "hyperparameters": {"n_epochs": 2, "seed": 9},
        }
    )
    assert fields.getlist("models") == ["a", "b"] and fields.getlist("zero_shot") == ["c"]
    assert fields["preset"] == "consistent" and fields["user_template"] == "{text}?"
    assert fields["sampling_mode"] == "random" and fields["sampling_seed"] == "3"
    assert fields["train_count:x"] == "2" and fields["n_epochs"] == "2" and fields["hp_seed"] == "9"


def test_validation_count_is_read_at_the_top_level_or_under_sampling():
    assert json_to_fields({"validation_count": 5})["validation_count"] == "5"
    assert json_to_fields({"sampling": {"validation_count": 4}})["validation_count"] == "4"
    assert json_to_fields({"validation_count": 5, "sampling": {"validation_count": 4}}).getlist("validation_count") == [
        "5"
    ], "the top-level key wins, as the prompt keys do"


@pytest.mark.parametrize(
    "body, key",
    [
        ({"sampling": [1]}, "sampling"),
        ({"models": {"a": 1}}, "models"),
        ({"sampling": {"train_counts": 5}}, "train_counts"),
    ],
)
def test_wrong_shapes_name_the_key(body, key):
    with pytest.raises(BodyError, match=key):
        json_to_fields(body)
