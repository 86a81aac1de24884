"""Turning chat conversations into token ids with labels on the assistant tokens only, for SmolLM2 fine-tuning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from local_openai.trainers.base import Message, message_text

IGNORE = -100  # label value that the loss skips


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE everywhere except the assistant answers to learn (their text and end-of-turn token)


def chat_template_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """The messages as the tokenizer's chat template takes them: role and text only."""
    return [{"role": str(m["role"]), "content": message_text(m)} for m in messages]


def encode_conversation(tokenizer, conversation: Sequence[Message], max_tokens: int) -> Example:
    """Render with the model's chat template, message by message, so each assistant answer's span is known.

    An assistant message is learned unless it says `"weight": 0`; its role header and the newline after its
    end-of-turn token are context, the answer text and the end-of-turn token are targets (so the model learns to
    stop). Conversations longer than `max_tokens` keep their last tokens, where the final answer is.
    """
    messages = chat_template_messages(conversation)
    end = tokenizer.eos_token
    input_ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for i, message in enumerate(messages):
        full = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        segment = full[len(rendered) :]
        learn = message["role"] == "assistant" and conversation[i].get("weight", 1) != 0
        if learn:
            prompt = (
                tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
            )
            header = prompt[len(rendered) :]
            answer_end = segment.rfind(end) + len(end)
            parts = [
                (segment[: len(header)], False),
                (segment[len(header) : answer_end], True),
                (segment[answer_end:], False),
            ]
        else:
            parts = [(segment, False)]
        for text, target in parts:
            if not text:
                continue
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            input_ids.extend(ids)
            labels.extend(ids if target else [IGNORE] * len(ids))
        rendered = full
    return Example(input_ids=input_ids[-max_tokens:], labels=labels[-max_tokens:])
