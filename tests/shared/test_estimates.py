"""The pre-launch report: the training file is validated, and tokens and costs follow the price table's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.dataset_reading import load_items
from shared.dataset_sampling import Split, reference_sampling, split_items
from shared.estimates import prelaunch_report
from shared.pricing import default_epochs, inference_cost, training_cost
from shared.prompts import PRESETS

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "shared" / "sample_data" / "airline_tweets_sample.csv"
PRICED = "gpt-4o-mini-2024-07-18"


@pytest.fixture(scope="module")
def split() -> Split:
    items = load_items(SAMPLE_CSV.read_bytes(), "text", "airline_sentiment")
    return split_items(items, reference_sampling(item.label for item in items))


def test_report_counts_tokens_and_prices(split):
    prompt = PRESETS["reference"]
    one = prelaunch_report(split, prompt, [PRICED], ["local-tfidf"], 1)
    three = prelaunch_report(split, prompt, [PRICED], [], 3)
    assert one.ok and one.n_examples == len(split.train) == 100
    tuned, zero_shot = one.models
    assert tuned.training_tokens > 0 and three.models[0].training_tokens == 3 * tuned.training_tokens
    assert three.models[0].cost_usd > tuned.cost_usd > 0
    assert zero_shot.training_tokens is None and zero_shot.cost_usd == 0.0
    unknown = prelaunch_report(split, prompt, ["some-unpriced-model"], [], "auto").models[0]
    assert unknown.cost_usd is None and "unknown" in unknown.cost


def test_auto_epochs_are_the_ones_openai_picks_for_the_training_set(split):
    prompt = PRESETS["reference"]
    one = prelaunch_report(split, prompt, [PRICED], [], 1).models[0]
    auto = prelaunch_report(split, prompt, [PRICED], [], "auto")
    epochs = default_epochs(len(split.train))
    assert auto.models[0].training_tokens == epochs * one.training_tokens
    assert f"counted as {epochs}" in auto.price_note


def test_fine_tuned_runs_are_evaluated_at_fine_tuned_prices_and_zero_shot_at_base_prices(split):
    prompt = PRESETS["reference"]
    tuned, zero_shot = prelaunch_report(split, prompt, [PRICED], [PRICED], 1).models
    output_tokens = prompt.max_tokens * len(split.test)
    prompt_tokens = zero_shot.evaluation_tokens - output_tokens
    assert zero_shot.cost_usd == pytest.approx(inference_cost(PRICED, prompt_tokens, output_tokens, fine_tuned=False))
    assert tuned.cost_usd == pytest.approx(
        training_cost(PRICED, tuned.training_tokens)
        + inference_cost(PRICED, prompt_tokens, output_tokens, fine_tuned=True)
    )
    assert tuned.cost_usd - training_cost(PRICED, tuned.training_tokens) > zero_shot.cost_usd
    ft_model = f"ft:{PRICED}:org:tq:abc123"
    asked = prelaunch_report(split, prompt, [], [ft_model], 1).models[0]
    assert asked.cost_usd == pytest.approx(inference_cost(ft_model, prompt_tokens, output_tokens, fine_tuned=True))
