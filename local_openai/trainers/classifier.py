"""What the classifier backends share: reading (text, label) pairs out of chat examples, and answering chats.

A classifier learns the label (the last assistant reply) of the text in the last user message. Users often wrap
that text in an instruction ("What is the sentiment ... tweet: {text}"), at training time, at inference time or
both; the classifiers see only the text after the last `<word>:` marker that starts a line, so both formats give
the same prediction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from local_openai.trainers.base import ChatRequest, ChatResult, ClientError, Message, message_text
from local_openai.trainers.tokens import count_message_tokens, count_text_tokens

# "tweet: ...", "Text: ...", "review:" at the start of a line after an instruction; the payload runs to the end.
_MARKER = re.compile(r"(?:^|\n)[ \t]*[A-Za-z][A-Za-z ]{0,24}:[ \t]*", re.MULTILINE)


def classifier_text(content: str) -> str:
    """The text to classify: what follows the last line-leading marker of a multi-line instruction, else all."""
    if "\n" not in content.strip():
        return content.strip()
    matches = list(_MARKER.finditer(content))
    if matches and content[matches[-1].end() :].strip():
        return content[matches[-1].end() :].strip()
    return content.strip()


def last_user_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return classifier_text(message_text(message, " "))
    return ""


def text_and_label(messages: Sequence[Message]) -> tuple[str, str]:
    """(text of the last user message before the last assistant reply, that reply) of one training example."""
    last_assistant = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
    return last_user_text(messages[:last_assistant]), message_text(messages[last_assistant], " ").strip()


def training_pairs(examples: Sequence[Sequence[Message]]) -> tuple[list[str], list[str]]:
    pairs = [text_and_label(example) for example in examples]
    texts, labels = [t for t, _ in pairs], [label for _, label in pairs]
    if len(set(labels)) < 2:
        raise ClientError(
            "a classifier needs at least two different assistant answers to learn from; "
            f"the file has only {set(labels)}",
            code="invalid_training_file",
            param="training_file",
        )
    return texts, labels


def validation_pairs(examples: Sequence[Sequence[Message]], known_labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """(texts, labels) of the validation examples whose label the model can predict at all."""
    pairs = [text_and_label(example) for example in examples]
    kept = [(text, label) for text, label in pairs if label in known_labels]
    return [t for t, _ in kept], [label for _, label in kept]


def trained_tokens(examples: Sequence[Sequence[Message]], n_epochs: int) -> int:
    return n_epochs * sum(count_message_tokens(example) for example in examples)


class ClassifierPredictor:
    """Answers each chat with the label predicted for its last user message; `predict` does a whole batch."""

    def __init__(self, predict: Callable[[list[str]], list[str]]):
        self._predict = predict

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResult | ClientError]:
        """Every request answered: a classifier refuses none (the protocol allows a ClientError in place)."""
        labels = self._predict([last_user_text(r.messages) for r in requests])
        return [
            ChatResult(
                text=label,
                prompt_tokens=count_message_tokens(request.messages),
                completion_tokens=count_text_tokens(label),
                finish_reason="stop",
            )
            for request, label in zip(requests, labels, strict=True)
        ]
