"""What the classifier backends read out of a chat: the text to classify and the label to learn."""

from __future__ import annotations

import pytest

from local_openai.trainers.classifier import classifier_text, text_and_label, training_pairs

REFERENCE_TEMPLATE = (
    "What is the sentiment expressed in the following tweet about an airline?\n"
    "            Select sentiment value from positive, negative, or neutral. Return only the sentiment "
    "value in small letters.\n            tweet: {text}"
)


@pytest.mark.parametrize("text", ["@united thanks: great crew", "plain text", "@VirginAmerica what time is it?"])
def test_template_and_plain_text_give_the_same_input(text):
    assert classifier_text(REFERENCE_TEMPLATE.format(text=text)) == text
    assert classifier_text(text) == text


def test_single_line_with_colon_is_kept_whole():
    assert classifier_text("Note: my bag is lost") == "Note: my bag is lost"


def test_text_and_label_use_last_user_and_last_assistant():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "neutral"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": " positive "},
    ]
    assert text_and_label(messages) == ("second", "positive")


def test_training_needs_two_labels():
    example = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "yes"}]
    with pytest.raises(ValueError, match="two different"):
        training_pairs([example, example])


def test_content_parts_are_read_and_counted_as_their_text():
    """A message's text is one concept: the classifier's input and the usage count both read content parts' text."""
    from local_openai.trainers.classifier import last_user_text
    from local_openai.trainers.tokens import count_message_tokens

    parts = [{"role": "user", "content": [{"type": "text", "text": "the crew"}, {"type": "text", "text": "was great"}]}]
    plain = [{"role": "user", "content": "the crew was great"}]
    assert last_user_text(parts) == last_user_text(plain) == "the crew was great"
    assert count_message_tokens(parts) == count_message_tokens(plain)
