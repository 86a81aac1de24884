import pytest

from shared.metrics import compute_metrics, make_prediction, metrics_from_predictions, normalize_output

LABELS = ["negative", "neutral", "positive"]


@pytest.mark.parametrize(
    "output, expected",
    [
        ("negative", "negative"),
        ("Negative", "negative"),
        ("  NEUTRAL \n", "neutral"),
        ("positive.", "positive"),
        ('"positive"', "positive"),
        ("'neutral'", "neutral"),
        ("Sentiment: negative", "negative"),
        ("The sentiment is negative.", "negative"),
        ("sentiment value: **positive**", "positive"),
        ("negative negative", "negative"),
        ("positive or negative", None),
        ("Neutral, maybe positive", None),
        ("", None),
        (None, None),
        ("I cannot tell", None),
        ("negatively", None),
        ("nonpositive", None),
    ],
)
def test_normalize_output(output, expected):
    assert normalize_output(output, LABELS) == expected


def test_normalize_prefers_the_longest_label():
    labels = ["positive", "very positive"]
    assert normalize_output("Very positive!", labels) == "very positive"
    assert normalize_output("positive", labels) == "positive"


def test_normalize_returns_the_labels_own_spelling():
    assert normalize_output("pos", ["Pos", "Neg"]) == "Pos"


def test_make_prediction():
    assert make_prediction(412, "neutral", "Neutral.", LABELS) == {
        "row": 412,
        "expected": "neutral",
        "output": "Neutral.",
        "predicted": "neutral",
    }
    assert make_prediction(3, "neutral", "??", LABELS)["predicted"] is None


def test_metrics_against_hand_computed_values():
    expected = ["negative", "negative", "negative", "neutral", "neutral", "positive", "positive", "positive"]
    predicted = ["negative", "negative", "neutral", "neutral", None, "positive", "negative", "positive"]
    metrics = compute_metrics(expected, predicted, LABELS)
    # correct: 0, 1, 3, 5, 7 -> 5 of 8
    assert metrics["accuracy"] == 5 / 8
    assert metrics["invalid"] == 1
    assert metrics["n"] == 8
    # negative: tp 2, predicted 3 (rows 0, 1, 6), support 3 -> p 2/3, r 2/3, f1 2/3
    # neutral: tp 1, predicted 2 (rows 2, 3), support 2 (one invalid) -> p 1/2, r 1/2, f1 1/2
    # positive: tp 2, predicted 2, support 3 -> p 1, r 2/3, f1 0.8
    per_class = metrics["per_class"]
    assert per_class["negative"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert per_class["neutral"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert per_class["positive"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.8) / 3)
    assert metrics["confusion_matrix"] == {
        "labels": LABELS,
        "matrix": [[2, 1, 0], [0, 1, 0], [1, 0, 2]],
        "invalid": [0, 1, 0],
    }


def test_a_class_never_predicted_scores_zero_not_an_error():
    metrics = compute_metrics(["a", "b"], ["a", "a"], ["a", "b"])
    assert metrics["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics["per_class"]["a"]["precision"] == 0.5
    assert metrics["accuracy"] == 0.5


def test_empty_input_gives_zeros():
    metrics = compute_metrics([], [], ["a", "b"])
    assert (metrics["accuracy"], metrics["macro_f1"], metrics["n"]) == (0.0, 0.0, 0)


def test_mismatched_lengths_and_unknown_labels_are_refused():
    with pytest.raises(ValueError, match="2 expected labels but 1"):
        compute_metrics(["a", "b"], ["a"], ["a", "b"])
    with pytest.raises(ValueError, match="'c'"):
        compute_metrics(["a", "c"], ["a", "a"], ["a", "b"])


def test_metrics_from_stored_predictions():
    predictions = [
        make_prediction(i, label, output, LABELS)
        for i, (label, output) in enumerate([("negative", "Negative"), ("positive", "neutral"), ("neutral", "?")])
    ]
    metrics = metrics_from_predictions(predictions, LABELS)
    assert metrics["accuracy"] == 1 / 3
    assert metrics["invalid"] == 1


def test_metrics_carry_the_wilson_interval_and_a_bootstrap_interval_for_macro_f1():
    """81 of 100 right: the Wilson interval statsmodels gives (about 0.72-0.88), and a macro-F1 interval around the
    point estimate."""
    expected = ["a"] * 50 + ["b"] * 50
    predicted = ["a"] * 41 + ["b"] * 9 + ["b"] * 40 + [None] * 10
    metrics = compute_metrics(expected, predicted, ["a", "b"])
    assert metrics["accuracy"] == 0.81
    assert metrics["accuracy_ci95"] == pytest.approx([0.7222, 0.8749], abs=5e-4)
    low, high = metrics["macro_f1_ci95"]
    assert low < metrics["macro_f1"] < high and high - low < 0.25


def test_without_items_the_intervals_say_nothing_is_known():
    metrics = compute_metrics([], [], ["a", "b"])
    assert metrics["accuracy_ci95"] == [0.0, 1.0] and metrics["macro_f1_ci95"] == [0.0, 1.0]
