"""`worker.pipeline.submit_experiment` from a script: the caps hold even for a spec changed after it was built."""

from __future__ import annotations

import pytest
from worker_helpers import SAMPLE_CSV

from shared.dataset_reading import load_items
from shared.dataset_sampling import SamplingSpec, reference_sampling, split_items
from shared.records import ExperimentSpec, RecordError
from shared.store import Store
from worker import pipeline


def test_a_ten_thousand_run_experiment_is_refused_before_anything_is_queued(redis_url):
    store = Store.from_url(redis_url)
    store.client.flushdb()
    spec = ExperimentSpec(
        dataset_sha256="ab" * 32,
        dataset_name="t.csv",
        dataset_path=None,
        text_column="text",
        label_column="label",
        models=["local-tfidf"],
        sampling=reference_sampling(["negative", "neutral", "positive"]),
    )
    spec.zero_shot = [f"model-{i}" for i in range(10_000)]
    with pytest.raises(RecordError, match="10001 models.*TQ_MAX_MODELS"):
        pipeline.submit_experiment(store, spec)
    assert store.list_experiments() == [] and store.client.keys("tq:exp:*") == []


def test_check_and_submit_queues_nothing_when_the_training_file_would_be_invalid(redis_url):
    """The form's Launch and the API both go through `check_and_submit`: three training examples (fewer than the
    ten a training file needs) give a failing report and no experiment."""
    store = Store.from_url(redis_url)
    store.client.flushdb()
    data = SAMPLE_CSV.read_bytes()
    labels = ["negative", "neutral", "positive"]
    sampling = SamplingSpec(
        train_counts={label: 1 for label in labels},
        train_offset=0,
        test_counts={label: 2 for label in labels},
        test_offset=100,
    )
    spec = ExperimentSpec(
        dataset_sha256=store.put_dataset(data, SAMPLE_CSV.name),
        dataset_name=SAMPLE_CSV.name,
        dataset_path=None,
        text_column="text",
        label_column="airline_sentiment",
        models=["local-tfidf"],
        sampling=sampling,
    )
    split = split_items(load_items(data, "text", "airline_sentiment"), sampling)
    launch = pipeline.check_and_submit(store, spec, split)
    assert (launch.exp_id, launch.report.ok, launch.report.n_examples) == (None, False, 3)
    assert store.list_experiments() == [] and store.client.keys("tq:exp:*") == []
