import re

import pytest

from shared.pricing import (
    PRICES,
    PRICES_AS_OF,
    PRICES_SOURCE,
    actual_cost,
    default_epochs,
    inference_cost,
    price_for,
    price_table,
    resolve_epochs,
    training_cost,
)


def test_cost_is_tokens_times_epochs_times_price():
    per_million = PRICES["gpt-4o-mini-2024-07-18"].training
    assert training_cost("gpt-4o-mini-2024-07-18", 250_000, epochs=3) == pytest.approx(0.75 * per_million)
    assert training_cost("gpt-4o-mini", 250_000, epochs=3) == training_cost("gpt-4o-mini-2024-07-18", 250_000, 3)


def test_fine_tuned_names_use_their_base_price():
    assert price_for("ft:gpt-3.5-turbo-0125:org:tq:x1") == PRICES["gpt-3.5-turbo"]


def test_local_models_are_free():
    for model in ("local-tfidf", "local-minilm", "smollm2-135m-instruct", "ft:local-minilm:local:tq:abc"):
        assert training_cost(model, 10_000_000, epochs=4) == 0.0
        assert inference_cost(model, 1000, 1000) == 0.0


def test_unknown_models_have_no_estimate():
    assert price_for("some-other-model") is None
    assert training_cost("some-other-model", 1000) is None


def test_inference_cost_uses_fine_tuned_or_base_prices():
    price = PRICES["gpt-4o-2024-08-06"]
    assert inference_cost("gpt-4o", 2_000_000, 1_000_000) == pytest.approx(2 * price.base_input + price.base_output)
    assert inference_cost("gpt-4o", 2_000_000, 1_000_000, fine_tuned=True) == pytest.approx(
        2 * price.input + price.output
    )
    assert inference_cost("ft:gpt-4o-2024-08-06:o:tq:1", 1_000_000, 0) == pytest.approx(price.input)
    assert price.input > price.base_input


@pytest.mark.parametrize(
    "n_examples, epochs",
    [(10, 10), (20, 5), (33, 3), (34, 3), (100, 3), (8333, 3), (8334, 2), (30_000, 1), (3, 25), (0, 3)],
)
def test_default_epochs_follow_openais_auto_rule(n_examples, epochs):
    assert default_epochs(n_examples) == epochs


def test_resolve_epochs():
    assert resolve_epochs("auto", 100) == 3
    assert resolve_epochs(7, 100) == 7


def test_table_is_dated_and_sourced():
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES_AS_OF)
    rows = price_table()
    assert len(rows) == len(PRICES)
    assert all(row["as_of"] == PRICES_AS_OF and row["source"] == PRICES_SOURCE for row in rows)
    assert all(price.training > 0 for price in PRICES.values())


def test_actual_cost_is_trained_tokens_at_the_training_price_plus_usage_at_the_inference_prices():
    """gpt-4o-mini, fine-tuned: 100,000 trained tokens x $3/1M + 20,000 prompt x $0.30/1M + 1,000 completion x
    $1.20/1M = 0.3 + 0.006 + 0.0012."""
    usage = {"prompt_tokens": 20_000, "completion_tokens": 1_000, "total_tokens": 21_000}
    cost = actual_cost("gpt-4o-mini", "fine-tuned", 100_000, usage)
    assert cost.usd == pytest.approx(0.3072)
    assert PRICES_AS_OF in cost.note
    zero_shot = actual_cost("gpt-4o-mini", "zero-shot", None, usage)
    assert zero_shot.usd == pytest.approx(20_000 * 0.15 / 1e6 + 1_000 * 0.60 / 1e6)


def test_actual_cost_of_a_local_model_is_zero_and_says_so():
    cost = actual_cost(
        "local-tfidf", "fine-tuned", 5_000, {"prompt_tokens": 900, "completion_tokens": 10, "total_tokens": 910}
    )
    assert (cost.usd, cost.note) == (0.0, "local model: no charge")


def test_actual_cost_of_a_model_missing_from_the_table_is_unknown_and_says_why():
    cost = actual_cost(
        "mystery-model", "zero-shot", None, {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    )
    assert cost.usd is None and "mystery-model is not in the price table" in cost.note
