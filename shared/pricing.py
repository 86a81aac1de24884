"""Cost estimates from a dated, editable price table.

Prices are US dollars per 1M tokens, transcribed from OpenAI's pricing page (https://openai.com/api/pricing/,
"Fine-tuning" section) as of PRICES_AS_OF; they were not re-checked from this offline environment. When OpenAI
changes them, edit `PRICES` and `PRICES_AS_OF` together. Local models (served by local_openai) cost nothing.

Actual cost (`actual_cost`) = the job's trained tokens x training price + the provider's reported `usage` of every
evaluation answer x the inference prices. Training cost = trained tokens x epochs x training price. A job's
`trained_tokens` (when the provider reports it) already counts every epoch, so pass `epochs=1` with it. With
`n_epochs="auto"` OpenAI picks the epochs from the number of examples; `default_epochs` reproduces its published
rule (the fine-tuning data-prep cookbook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from shared.record_types import RunKind, Usage
from shared.tokens import base_model_name

PRICES_AS_OF = "2025-06-01"
PRICES_SOURCE = "https://openai.com/api/pricing/ (Fine-tuning)"
LOCAL_MODEL_PREFIXES = ("local-", "smollm2-")


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens: training; inference with the fine-tuned model (input, output); and inference with the
    base model itself (base_input, base_output), which zero-shot runs pay."""

    training: float
    input: float
    output: float
    base_input: float
    base_output: float


class PriceRow(TypedDict):
    """One model's prices in USD per 1M tokens, as pages and CLI output show them."""

    model: str
    training_per_1m: float
    input_per_1m: float
    output_per_1m: float
    base_input_per_1m: float
    base_output_per_1m: float
    as_of: str
    source: str


PRICES: dict[str, Price] = {
    "gpt-4.1-2025-04-14": Price(training=25.00, input=3.00, output=12.00, base_input=2.00, base_output=8.00),
    "gpt-4.1-mini-2025-04-14": Price(training=5.00, input=0.80, output=3.20, base_input=0.40, base_output=1.60),
    "gpt-4.1-nano-2025-04-14": Price(training=1.50, input=0.20, output=0.80, base_input=0.10, base_output=0.40),
    "gpt-4o-2024-08-06": Price(training=25.00, input=3.75, output=15.00, base_input=2.50, base_output=10.00),
    "gpt-4o-mini-2024-07-18": Price(training=3.00, input=0.30, output=1.20, base_input=0.15, base_output=0.60),
    "gpt-3.5-turbo": Price(training=8.00, input=3.00, output=6.00, base_input=0.50, base_output=1.50),
    "davinci-002": Price(training=6.00, input=12.00, output=12.00, base_input=2.00, base_output=2.00),
    "babbage-002": Price(training=0.40, input=1.60, output=1.60, base_input=0.40, base_output=0.40),
}
ALIASES = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125": "gpt-3.5-turbo",
    "gpt-3.5-turbo-1106": "gpt-3.5-turbo",
    "gpt-3.5-turbo-0613": "gpt-3.5-turbo",
}
FREE = Price(training=0.0, input=0.0, output=0.0, base_input=0.0, base_output=0.0)

# OpenAI's rule for n_epochs="auto": aim for 3 epochs, but at least 100 and at most 25,000 examples seen in total.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def is_local_model(model: str) -> bool:
    return base_model_name(model).startswith(LOCAL_MODEL_PREFIXES)


def price_for(model: str) -> Price | None:
    """The price of `model` (a base or `ft:` name); FREE for local models, None when the table does not know it."""
    name = base_model_name(model)
    if is_local_model(name):
        return FREE
    name = ALIASES.get(name, name)
    return PRICES.get(name)


def training_cost(model: str, tokens: int, epochs: int = 1) -> float | None:
    """Estimated training cost in USD, or None for a model missing from the table."""
    price = price_for(model)
    if price is None:
        return None
    return round(tokens * epochs * price.training / 1_000_000, 6)


def inference_cost(model: str, input_tokens: int, output_tokens: int, fine_tuned: bool | None = None) -> float | None:
    """Estimated cost in USD of requests to a model (None when unknown). `fine_tuned` picks the fine-tuned model's
    prices or the base model's; by default an `ft:` name means fine-tuned."""
    price = price_for(model)
    if price is None:
        return None
    if fine_tuned is None:
        fine_tuned = model.startswith("ft:")
    per_input, per_output = (price.input, price.output) if fine_tuned else (price.base_input, price.base_output)
    return round((input_tokens * per_input + output_tokens * per_output) / 1_000_000, 6)


@dataclass(frozen=True)
class Cost:
    """A run's actual cost in USD (None when the model is not in the price table) and what it is based on."""

    usd: float | None
    note: str


LOCAL_NOTE = "local model: no charge"


def actual_cost(model: str, kind: RunKind, trained_tokens: int | None, usage: Usage) -> Cost:
    """What a run cost: `trained_tokens` (the job's count, every epoch included) at the training price, plus the
    evaluation's `usage` at the fine-tuned model's inference prices (a fine-tuned run, or an `ft:` model asked
    zero-shot) or the base model's."""
    if is_local_model(model):
        return Cost(0.0, LOCAL_NOTE)
    fine_tuned = kind == "fine-tuned" or model.startswith("ft:")
    inference = inference_cost(model, usage["prompt_tokens"], usage["completion_tokens"], fine_tuned=fine_tuned)
    training = training_cost(model, trained_tokens or 0)
    if inference is None or training is None:
        return Cost(
            None,
            f"{model} is not in the price table (prices as of {PRICES_AS_OF}); add it to "
            f"shared/pricing.py PRICES to see its cost",
        )
    return Cost(
        round(training + inference, 6),
        f"{trained_tokens or 0} trained and {usage['total_tokens']} evaluation tokens at prices as of {PRICES_AS_OF}",
    )


def default_epochs(n_examples: int) -> int:
    """The epochs OpenAI runs for n_epochs="auto" on `n_examples` training examples."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def resolve_epochs(n_epochs: int | str, n_examples: int) -> int:
    """`n_epochs` as a number: itself, or `default_epochs` for "auto"."""
    return default_epochs(n_examples) if n_epochs == "auto" else int(n_epochs)


def price_table() -> list[PriceRow]:
    """The table as rows for pages and CLI output, with its date and source."""
    return [
        {
            "model": model,
            "training_per_1m": price.training,
            "input_per_1m": price.input,
            "output_per_1m": price.output,
            "base_input_per_1m": price.base_input,
            "base_output_per_1m": price.base_output,
            "as_of": PRICES_AS_OF,
            "source": PRICES_SOURCE,
        }
        for model, price in PRICES.items()
    ]
