"""Token counts for usage and trained_tokens of the classifier backends.

The classifiers have no chat tokenizer, so this counts words and punctuation marks, a close stand-in for a BPE count
on English text. Trainers with a real tokenizer (SmolLM2) report their own counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from local_openai.trainers.base import Message, message_text

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_text_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def count_message_tokens(messages: Sequence[Message]) -> int:
    """Content tokens plus OpenAI's per-message overhead of 3 and 3 for the reply primer."""
    return 3 + sum(3 + count_text_tokens(message_text(m, " ")) for m in messages)
