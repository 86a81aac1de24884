"""Intervals and paired tests, checked against published values and hand computations."""

from __future__ import annotations

import pytest

from shared.significance import (
    best_run,
    compare_paired,
    compare_runs,
    correctness,
    items_to_detect,
    macro_f1_interval,
    wilson_interval,
)


@pytest.mark.parametrize(
    "correct, n, low, high",
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (Wilson).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe(correct: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(correct, n) == pytest.approx([low, high], abs=5e-5)


def test_wilson_interval_needs_items() -> None:
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def _pairs(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[bool], list[bool]]:
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


def test_exact_mcnemar_matches_the_binomial_by_hand() -> None:
    # 12 discordant items split 10/2: p = 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
    a, b = _pairs(50, 10, 2, 38)
    comparison = compare_paired("run-1", a, "run-2", b)
    assert comparison.p_value == pytest.approx(158 / 4096)
    assert comparison.difference == pytest.approx(-0.08)
    assert comparison.significant and comparison.better == "run-1"
    low, high = comparison.difference_ci95
    assert low < -0.08 < high < 0


def test_significant_sentence_names_the_better_run_with_interval_and_p() -> None:
    a, b = _pairs(50, 2, 10, 38)
    sentence = compare_paired("run-1", a, "run-2", b).sentence()
    assert sentence.startswith("run-2 is better than run-1 by 0.08 (95 % CI 0.0")
    assert sentence.endswith("p = 0.04)")


def test_a_tiny_p_value_reads_p_below_a_thousandth() -> None:
    a, b = _pairs(40, 25, 0, 35)
    sentence = compare_paired("run-1", a, "run-2", b).sentence()
    assert sentence.endswith(", p < 0.001)") and "p = <" not in sentence


def test_reference_gap_of_four_points_on_100_items_is_noise() -> None:
    # 0.82 against 0.78, the two runs disagreeing on 12 items: McNemar's exact p = P(|X - 6| >= 2), X ~ B(12, 1/2).
    a, b = _pairs(70, 4, 8, 18)
    comparison = compare_paired("run-1", a, "run-2", b)
    assert comparison.p_value == pytest.approx(2 * (1 + 12 + 66 + 220 + 495) / 4096)
    assert not comparison.significant and comparison.better is None
    assert comparison.difference_ci95[0] < 0 < comparison.difference_ci95[1]
    sentence = comparison.sentence()
    assert sentence.startswith("no significant difference between run-1 and run-2 at n = 100")
    assert f"about {comparison.items_needed:,} test items would detect a difference of this size" in sentence


def test_items_to_detect_follows_connor() -> None:
    # Connor (1987): psi = 0.12 discordant, delta = 0.04: n = (1.95996*sqrt(.12) + 0.84162*sqrt(.12-.0016))^2/.0016
    assert items_to_detect(4, 8, 100) == 587
    assert items_to_detect(5, 5, 100) is None


def test_identical_runs_do_not_differ() -> None:
    comparison = compare_paired("a", [True, False] * 10, "b", [True, False] * 10)
    assert comparison.p_value == 1.0 and comparison.difference_ci95 == [0.0, 0.0]
    assert comparison.items_needed is None and "no difference" in comparison.sentence()


def test_macro_f1_interval_brackets_the_point_estimate() -> None:
    labels = ["negative", "neutral", "positive"]
    expected = labels * 30
    predicted = ["negative", "neutral", "positive"] * 20 + ["neutral", None, "negative"] * 10
    low, high = macro_f1_interval(expected, predicted, labels)
    assert 0 < low < high < 1
    assert macro_f1_interval(expected, predicted, labels) == [low, high]


def test_compare_runs_pairs_only_runs_scored_on_the_same_items() -> None:
    same = {1: True, 2: False, 3: True}
    comparisons = compare_runs({"run-1": same, "run-2": {1: False, 2: False, 3: True}, "run-3": {1: True, 9: True}})
    assert [(c.a, c.b) for c in comparisons] == [("run-1", "run-2")]


def test_correctness_counts_an_invalid_output_as_wrong() -> None:
    predictions = [{"row": 4, "expected": "a", "predicted": "a"}, {"row": 5, "expected": "a", "predicted": None}]
    assert correctness(predictions) == {4: True, 5: False}


def test_best_run_is_declared_only_when_significantly_better_than_the_runner_up() -> None:
    clear = compare_paired("run-1", _pairs(50, 10, 2, 38)[0], "run-2", _pairs(50, 10, 2, 38)[1])
    assert best_run({"run-1": 0.6, "run-2": 0.52}, [clear])[0] == "run-1"
    noise = compare_paired("run-1", _pairs(70, 4, 8, 18)[0], "run-2", _pairs(70, 4, 8, 18)[1])
    winner, sentence = best_run({"run-1": 0.74, "run-2": 0.78}, [noise])
    assert winner is None and sentence.startswith("tie within noise")
