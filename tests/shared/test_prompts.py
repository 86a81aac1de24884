from dataclasses import replace

import pytest

from shared.jsonl import chat_jsonl, validate_chat_jsonl
from shared.prompts import (
    PRESETS,
    REFERENCE_SYSTEM_PROMPT,
    PromptError,
    PromptPreset,
    evaluation_messages,
    get_preset,
    render,
    training_examples,
    training_messages,
    validate_template,
)

# The reference script's triple-quoted prompt, kept verbatim (its second line is longer than our line limit).
REFERENCE_SCRIPT_CONTENT = """What is the sentiment expressed in the following tweet about an airline?
            Select sentiment value from positive, negative, or neutral. Return only the sentiment value in small letters.
            tweet: {}"""  # noqa: E501 (the reference script's text, verbatim)


def test_reference_training_example_matches_the_reference_script():
    assert training_messages(PRESETS["reference"], "@united late again", "negative") == [
        {
            "role": "system",
            "content": "You are a Twitter sentiment analysis expert who can predict sentiment "
            "expressed in the tweets about an airline. You select sentiment value from "
            "positive, negative, or neutral.",
        },
        {"role": "user", "content": "@united late again"},
        {"role": "assistant", "content": "negative"},
    ]


def test_reference_evaluation_is_one_user_message_with_the_scripts_exact_text():
    tweet = "@united {weird} braces\nand a newline"
    preset = PRESETS["reference"]
    assert evaluation_messages(preset, tweet) == [{"role": "user", "content": REFERENCE_SCRIPT_CONTENT.format(tweet)}]
    assert (preset.temperature, preset.max_tokens) == (0, 10)


def test_consistent_preset_evaluates_in_the_training_format():
    preset = PRESETS["consistent"]
    assert evaluation_messages(preset, "hello") == training_messages(preset, "hello", "x")[:2]
    assert evaluation_messages(preset, "hello")[0] == {"role": "system", "content": REFERENCE_SYSTEM_PROMPT}


def test_both_phrasings_trains_on_the_reference_example_and_on_the_question_it_will_be_asked():
    preset = PRESETS["both-phrasings"]
    tweet = "@united late again"
    assert evaluation_messages(preset, tweet) == evaluation_messages(PRESETS["reference"], tweet)
    assert training_examples(preset, tweet, "negative") == [
        training_messages(PRESETS["reference"], tweet, "negative"),
        evaluation_messages(PRESETS["reference"], tweet) + [{"role": "assistant", "content": "negative"}],
    ]


def test_one_example_per_item_when_the_phrasings_are_the_same_or_not_asked_for():
    assert training_examples(PRESETS["reference"], "hi", "x") == [training_messages(PRESETS["reference"], "hi", "x")]
    same = replace(PRESETS["consistent"], train_on_eval_phrasing=True)
    assert training_examples(same, "hi", "x") == [training_messages(same, "hi", "x")]


def test_the_flag_is_written_only_when_set_and_read_back_either_way():
    assert "train_on_eval_phrasing" not in PRESETS["reference"].to_dict()
    for name in ("reference", "both-phrasings"):
        assert PromptPreset.from_dict(PRESETS[name].to_dict()) == PRESETS[name]


@pytest.mark.parametrize(
    "template, match",
    [
        ("no field here", "no {text} field"),
        ("{text} and {label}", "unknown field.*label"),
        ("{} {text}", "unknown field"),
        ("{text", "not a valid template"),
    ],
)
def test_bad_templates_are_refused(template, match):
    with pytest.raises(PromptError, match=match):
        validate_template(template)
    with pytest.raises(PromptError):
        PromptPreset(name="bad", system_prompt=None, user_template=template)


def test_literal_braces_are_allowed():
    validate_template("{{json}} {text}")
    preset = PromptPreset(name="braces", system_prompt=None, user_template="{{x}}: {text}")
    assert evaluation_messages(preset, "t") == [{"role": "user", "content": "{x}: t"}]


def test_edited_copy_of_reference_changes_only_the_named_parts():
    edited = PRESETS["reference"].edited(system_prompt="Classify.", user_template="Tweet: {text}\nLabel:")
    assert edited.name == "reference-edited"
    assert training_messages(edited, "hi", "neutral")[:2] == [
        {"role": "system", "content": "Classify."},
        {"role": "user", "content": "hi"},
    ]
    assert evaluation_messages(edited, "hi") == [{"role": "user", "content": "Tweet: hi\nLabel:"}]
    assert PRESETS["reference"].system_prompt == REFERENCE_SYSTEM_PROMPT


def test_edited_copy_of_consistent_stays_consistent():
    edited = PRESETS["consistent"].edited(name="mine", system_prompt="S", user_template="T: {text}")
    assert edited.name == "mine"
    assert (
        evaluation_messages(edited, "x")
        == training_messages(edited, "x", "y")[:2]
        == [{"role": "system", "content": "S"}, {"role": "user", "content": "T: x"}]
    )


def test_an_empty_system_prompt_removes_it_and_none_keeps_it():
    for name in ("reference", "consistent"):
        cleared = PRESETS[name].edited(system_prompt=" ")
        assert cleared.system_prompt is None and cleared.eval_system_prompt is None
        example = training_messages(cleared, "hi", "neutral")
        assert [message["role"] for message in example] == ["user", "assistant"]
        assert validate_chat_jsonl(chat_jsonl([example] * 10)).ok, "a system message is optional in training data"
        assert evaluation_messages(cleared, "hi")[0]["role"] == "user"
    kept = PRESETS["reference"].edited(user_template="Tweet: {text}")
    assert kept.system_prompt == REFERENCE_SYSTEM_PROMPT


def test_edit_validates_the_template():
    with pytest.raises(PromptError):
        PRESETS["reference"].edited(user_template="nothing")


@pytest.mark.parametrize("changes", [{"temperature": -1}, {"temperature": 3}, {"max_tokens": 0}])
def test_out_of_range_sampling_parameters(changes):
    with pytest.raises(PromptError):
        PromptPreset(name="x", system_prompt=None, user_template="{text}", **changes)


def test_round_trip_through_the_record_dict():
    for preset in PRESETS.values():
        data = preset.to_dict()
        assert data["preset"] == preset.name
        assert PromptPreset.from_dict(data) == preset


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(PromptError, match="reference, consistent"):
        get_preset("nope")


@pytest.mark.parametrize(
    "template",
    [
        "{text:d}",
        "{text:x}",
        "{text:,}",
        "{text:>900000000}",
        "{text:>1000000}",
        "a {text!r}",
        "{text!s:10}",
        "{text:{text}}",
        "{text} {text!a}",
    ],
)
def test_conversions_and_format_specs_are_refused(template):
    with pytest.raises(PromptError, match=r"only a bare \{text\}"):
        validate_template(template)


def test_rendering_never_applies_a_format_spec():
    """`render` fills the bare field by hand: a template that slipped past validation still cannot run a spec."""
    assert render("{{a}} {text}: {text}", "x{y}") == "{a} x{y}: x{y}"
    with pytest.raises(PromptError):
        render("{text:>900000000}", "x")
