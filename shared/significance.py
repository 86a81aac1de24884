"""How sure a score is: intervals for one run's metrics, and paired tests between runs scored on the same items.

On 100 test items an accuracy of 0.82 is really "somewhere between about 0.73 and 0.88", so every figure carries an
interval, and two runs are compared item by item (both saw the same test items, so the comparison is paired):

- accuracy: the Wilson score interval (statsmodels), which behaves well near 0 and 1 and for small n;
- macro-F1: a percentile bootstrap over test items (scipy), since it has no closed form;
- a difference in accuracy between two runs: the exact McNemar test on the items where exactly one run was right
  (statsmodels), with a paired bootstrap interval for the difference (scipy);
- how many items would show a difference of the observed size: Connor's (1987) sample size for McNemar's test.

Resampling uses a fixed seed, so a record's intervals are the same every time they are computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from math import ceil, sqrt

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from shared.record_types import ComparisonBody, Prediction

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
POWER = 0.8
"""Power the 'about N items would detect it' estimate is made for (the usual choice in study design)."""
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240718


def wilson_interval(correct: int, n: int) -> list[float]:
    """The 95 % Wilson score interval of `correct` successes out of `n`, as [low, high]."""
    if n <= 0:
        raise ValueError("an interval needs at least one item")
    low, high = proportion_confint(correct, n, alpha=ALPHA, method="wilson")
    return [float(low), float(high)]


def _macro_f1(expected: np.ndarray, predicted: np.ndarray, n_labels: int, axis: int = -1) -> np.ndarray:
    """Macro-F1 over label indexes (an invalid prediction is -1: wrong, and never a predicted class), vectorised over
    resamples along all axes but `axis`."""
    scores = []
    for label in range(n_labels):
        is_expected, is_predicted = expected == label, predicted == label
        true_positive = np.sum(is_expected & is_predicted, axis=axis)
        denominator = np.sum(is_expected, axis=axis) + np.sum(is_predicted, axis=axis)
        scores.append(
            np.divide(2 * true_positive, denominator, out=np.zeros(np.shape(denominator)), where=denominator > 0)
        )
    mean: np.ndarray = np.mean(scores, axis=0)
    return mean


def macro_f1_interval(expected: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> list[float]:
    """A 95 % percentile bootstrap interval for macro-F1, resampling test items."""
    if not expected:
        raise ValueError("an interval needs at least one item")
    index = {label: i for i, label in enumerate(labels)}
    expected_idx = np.array([index[label] for label in expected])
    predicted_idx = np.array([-1 if label is None else index[label] for label in predicted])
    if np.all(expected_idx == expected_idx[0]) and np.all(predicted_idx == predicted_idx[0]):
        point = float(_macro_f1(expected_idx, predicted_idx, len(labels)))
        return [point, point]
    result = stats.bootstrap(
        (expected_idx, predicted_idx),
        lambda e, p, axis=-1: _macro_f1(e, p, len(labels), axis),
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    difference: np.ndarray = np.mean(b, axis=axis) - np.mean(a, axis=axis)
    return difference


def items_to_detect(only_a: int, only_b: int, n: int) -> int | None:
    """Test items McNemar's test needs to detect a difference of this size (two-sided 5 %, 80 % power), by Connor
    (1987): from the share of items the runs disagree on and the observed difference. None without a difference."""
    discordant, difference = (only_a + only_b) / n, abs(only_b - only_a) / n
    if difference == 0:
        return None
    z_alpha, z_beta = float(stats.norm.ppf(1 - ALPHA / 2)), float(stats.norm.ppf(POWER))
    needed = (z_alpha * sqrt(discordant) + z_beta * sqrt(max(discordant - difference**2, 0.0))) ** 2
    return ceil(needed / difference**2)


@dataclass(frozen=True)
class Comparison:
    """Run `b` against run `a` on the same `n` items: `difference` is accuracy(b) - accuracy(a)."""

    a: str
    b: str
    n: int
    difference: float
    difference_ci95: list[float]
    only_a_correct: int
    only_b_correct: int
    p_value: float
    items_needed: int | None

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def better(self) -> str | None:
        """The run significantly better than the other, or None for a tie within noise."""
        if not self.significant:
            return None
        return self.b if self.difference > 0 else self.a

    def sentence(self) -> str:
        """The comparison in one plain sentence, as the results page and the CLI print it."""
        if self.better is not None:
            worse = self.a if self.better == self.b else self.b
            signed = (
                self.difference_ci95 if self.better == self.b else [-self.difference_ci95[1], -self.difference_ci95[0]]
            )
            return (
                f"{self.better} is better than {worse} by {abs(self.difference):.2f} "
                f"(95 % CI {signed[0]:.2f}–{signed[1]:.2f}, {_p(self.p_value)})"
            )
        gap = f"a difference of {abs(self.difference):.2f}" if self.difference else "no difference"
        needed = (
            f"; about {self.items_needed:,} test items would detect a difference of this size"
            if self.items_needed
            else ""
        )
        return (
            f"no significant difference between {self.a} and {self.b} at n = {self.n} ({gap}, "
            f"{_p(self.p_value)}){needed}"
        )

    def to_dict(self) -> ComparisonBody:
        return {
            "runs": [self.a, self.b],
            "n": self.n,
            "accuracy_difference": self.difference,
            "accuracy_difference_ci95": self.difference_ci95,
            "only_first_correct": self.only_a_correct,
            "only_second_correct": self.only_b_correct,
            "p_value": self.p_value,
            "significant": self.significant,
            "better": self.better,
            "items_needed": self.items_needed,
            "sentence": self.sentence(),
        }


def _p(value: float) -> str:
    """The p-value as a sentence states it: 'p = 0.04', 'p = 0.004', 'p < 0.001'."""
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}" if value < 0.01 else f"p = {value:.2f}"


def compare_paired(a: str, correct_a: Sequence[bool], b: str, correct_b: Sequence[bool]) -> Comparison:
    """Compare two runs item by item: `correct_a[i]` and `correct_b[i]` say whether each got item i right."""
    if len(correct_a) != len(correct_b) or not correct_a:
        raise ValueError("a paired comparison needs the same, non-empty list of items for both runs")
    first, second = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    only_a, only_b = int(np.sum(first & ~second)), int(np.sum(~first & second))
    both, neither = int(np.sum(first & second)), int(np.sum(~first & ~second))
    p_value = 1.0 if only_a + only_b == 0 else float(mcnemar([[both, only_a], [only_b, neither]], exact=True).pvalue)
    difference = (only_b - only_a) / len(first)
    if only_a + only_b == 0:
        interval = [0.0, 0.0]
    else:
        result = stats.bootstrap(
            (first.astype(float), second.astype(float)),
            _mean_difference,
            paired=True,
            vectorized=True,
            n_resamples=BOOTSTRAP_RESAMPLES,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
        interval = [float(result.confidence_interval.low), float(result.confidence_interval.high)]
    return Comparison(
        a=a,
        b=b,
        n=len(first),
        difference=difference,
        difference_ci95=interval,
        only_a_correct=only_a,
        only_b_correct=only_b,
        p_value=min(p_value, 1.0),
        items_needed=items_to_detect(only_a, only_b, len(first)),
    )


def correctness(predictions: Sequence[Prediction]) -> dict[int, bool]:
    """Row -> whether the stored prediction was right (an invalid output is wrong)."""
    return {int(p["row"]): p.get("predicted") is not None and p["predicted"] == p["expected"] for p in predictions}


def compare_runs(scored: Mapping[str, Mapping[int, bool]]) -> list[Comparison]:
    """Every pair of runs that were scored on exactly the same test items (run id -> row -> correct)."""
    comparisons = []
    for a, b in combinations(scored, 2):
        rows = sorted(scored[a])
        if not rows or rows != sorted(scored[b]):
            continue
        comparisons.append(compare_paired(a, [scored[a][r] for r in rows], b, [scored[b][r] for r in rows]))
    return comparisons


def best_run(accuracy: Mapping[str, float], comparisons: Sequence[Comparison]) -> tuple[str | None, str]:
    """(the best run, or None when it is a tie within noise; a sentence saying which and why).

    The top run by accuracy is declared best only when it is significantly better than the runner-up."""
    ranked = sorted(accuracy, key=lambda run: accuracy[run], reverse=True)
    if not ranked:
        return None, "no run was scored"
    if len(ranked) == 1:
        return ranked[0], f"{ranked[0]} is the only scored run"
    top, runner_up = ranked[0], ranked[1]
    pair = next((c for c in comparisons if {c.a, c.b} == {top, runner_up}), None)
    if pair is None:
        return None, f"{top} and {runner_up} were not scored on the same test items, so they cannot be ranked"
    if pair.better == top:
        return top, pair.sentence()
    return None, f"tie within noise: {pair.sentence()}"
