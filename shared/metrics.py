"""Turning model outputs into labels, and scoring them. Plain Python, so the numbers are easy to check by hand.

An output counts as a label when, ignoring case, whitespace, quotes and punctuation, it names exactly one of the
labels as a whole word ("Negative.", "Sentiment: negative", "The sentiment is negative."). An output naming two
different labels, or none, is invalid (`None`): it counts against accuracy and in `invalid`.

Each score carries its 95 % interval (`shared.significance`): on 100 test items an accuracy is only known to about
+/- 0.08.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from shared.record_types import ClassScores, ConfusionMatrix, Metrics, Prediction
from shared.significance import macro_f1_interval, wilson_interval

UNKNOWN_INTERVAL = [0.0, 1.0]
"""The interval of a score measured on no item: anything is possible."""

_STRIP = " \t\r\n\"'`“”‘’.,;:!?()[]{}<>*_-"


def _pattern(label: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(label.lower()) + r"(?![\w])")


def normalize_output(output: str | None, labels: Sequence[str]) -> str | None:
    """The one label that `output` names, or None when it names none or several."""
    if not output:
        return None
    by_lower = {label.lower(): label for label in labels}
    text = " ".join(output.lower().split())
    cleaned = text.strip(_STRIP)
    if cleaned in by_lower:
        return by_lower[cleaned]
    found: set[str] = set()
    remaining = text
    for lowered in sorted(by_lower, key=len, reverse=True):
        pattern = _pattern(lowered)
        if pattern.search(remaining):
            found.add(lowered)
            remaining = pattern.sub(" ", remaining)
    if len(found) == 1:
        return by_lower[found.pop()]
    return None


def make_prediction(row: int, expected: str, output: str | None, labels: Sequence[str]) -> Prediction:
    """One per-item prediction as stored in a run: row, expected, raw output, normalised label (None: invalid)."""
    return {"row": row, "expected": expected, "output": output, "predicted": normalize_output(output, labels)}


def _ratio(numerator: float, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def confusion_matrix(
    expected: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> ConfusionMatrix:
    """Rows are expected labels, columns predicted labels; `invalid` counts invalid outputs per expected label."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    invalid = [0] * len(labels)
    for truth, guess in zip(expected, predicted, strict=True):
        if guess is None:
            invalid[index[truth]] += 1
        else:
            matrix[index[truth]][index[guess]] += 1
    return {"labels": list(labels), "matrix": matrix, "invalid": invalid}


def compute_metrics(expected: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> Metrics:
    """accuracy and accuracy_ci95 (Wilson), macro_f1 and macro_f1_ci95 (bootstrap), invalid, n,
    per_class {precision, recall, f1, support}, confusion_matrix.

    Invalid outputs count as wrong: they lower accuracy and the recall of their true class. A class never
    predicted has precision 0 (scikit-learn's `zero_division=0`)."""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected labels but {len(predicted)} predictions")
    unknown = sorted(
        {label for label in expected if label not in labels}
        | {label for label in predicted if label is not None and label not in labels}
    )
    if unknown:
        raise ValueError(f"labels {unknown} are not among the experiment's labels {list(labels)}")
    confusion = confusion_matrix(expected, predicted, labels)
    matrix = confusion["matrix"]
    per_class: dict[str, ClassScores] = {}
    for i, label in enumerate(labels):
        true_positive = matrix[i][i]
        predicted_as = sum(row[i] for row in matrix)
        support = sum(matrix[i]) + confusion["invalid"][i]
        precision, recall = _ratio(true_positive, predicted_as), _ratio(true_positive, support)
        f1 = _ratio(2 * true_positive, predicted_as + support)
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    n = len(expected)
    correct = sum(1 for truth, guess in zip(expected, predicted, strict=True) if truth == guess)
    return {
        "accuracy": _ratio(correct, n),
        "accuracy_ci95": wilson_interval(correct, n) if n else list(UNKNOWN_INTERVAL),
        "macro_f1": _ratio(sum(scores["f1"] for scores in per_class.values()), len(labels)),
        "macro_f1_ci95": macro_f1_interval(expected, predicted, labels) if n else list(UNKNOWN_INTERVAL),
        "invalid": sum(1 for guess in predicted if guess is None),
        "n": n,
        "per_class": per_class,
        "confusion_matrix": confusion,
    }


def metrics_from_predictions(predictions: Iterable[Prediction], labels: Sequence[str]) -> Metrics:
    """`compute_metrics` over stored predictions."""
    predictions = list(predictions)
    return compute_metrics([p["expected"] for p in predictions], [p["predicted"] for p in predictions], labels)
