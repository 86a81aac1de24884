"""Experiments scored without a provider: prepared by the real prepare step, each run's answers written by the test
and scored by the real evaluation and summarize steps. Importable from any test (tests/ is on sys.path)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from shared.dataset_sampling import SamplingSpec
from shared.evaluate import finish_evaluation
from shared.metrics import make_prediction
from shared.prepare import prepare
from shared.records import ExperimentSpec
from shared.store import Store
from shared.summary import summarize

SAMPLE_CSV = Path(__file__).resolve().parents[1] / "shared" / "sample_data" / "airline_tweets_sample.csv"
LABELS = ("negative", "neutral", "positive")
Answer = Callable[[int, str], str]
"""(row, expected label) -> the model's output."""


def right(row: int, label: str) -> str:
    return f"{label.title()}."


def always(answer: str) -> Answer:
    return lambda row, label: answer


def sample_spec(
    store: Store,
    models: Sequence[str],
    test_per_class: int = 5,
    test_offset: int = 100,
    label_column: str = "airline_sentiment",
) -> ExperimentSpec:
    sha256 = store.put_dataset(SAMPLE_CSV.read_bytes(), SAMPLE_CSV.name)
    return ExperimentSpec(
        dataset_sha256=sha256,
        dataset_name=SAMPLE_CSV.name,
        dataset_path=None,
        text_column="text",
        label_column=label_column,
        models=list(models),
        sampling=SamplingSpec(
            train_counts={label: 5 for label in LABELS},
            train_offset=0,
            test_counts={label: test_per_class for label in LABELS},
            test_offset=test_offset,
        ),
    )


def scored_experiment(
    store: Store, answers: Sequence[tuple[str, Answer]], test_per_class: int = 5, test_offset: int = 100
) -> str:
    """A succeeded experiment whose run-1, run-2, ... (base models and answers from `answers`) are scored."""
    spec = sample_spec(store, [model for model, _ in answers], test_per_class, test_offset)
    exp_id = store.create_experiment(spec, "http://127.0.0.1:9/v1")
    split = prepare(store, exp_id)
    for number, (_, answer) in enumerate(answers, start=1):
        run_id = f"run-{number}"
        predictions = {
            item.row: make_prediction(item.row, item.label, answer(item.row, item.label), split.labels)
            for item in split.test
        }
        for prediction in predictions.values():
            store.save_prediction(exp_id, run_id, prediction)
        finish_evaluation(store, exp_id, run_id, split, predictions)
    summarize(store, exp_id)
    return exp_id
