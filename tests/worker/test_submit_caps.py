"""`worker.pipeline.submit_experiment` from a script: the caps hold even for a spec changed after it was built."""
from __future__ import annotations

import pytest

from shared.dataset_sampling import reference_sampling
from shared.records import ExperimentSpec, RecordError
from shared.store import Store
from worker import pipeline


def test_a_ten_thousand_run_experiment_is_refused_before_anything_is_queued(redis_url):
    store = Store.from_url(redis_url)
    store.client.flushdb()
    spec = ExperimentSpec(dataset_sha256="ab" * 32, dataset_name="t.csv", dataset_path=None, text_column="text",
                          label_column="label", models=["local-tfidf"],
                          sampling=reference_sampling(["negative", "neutral", "positive"]))
    spec.zero_shot = [f"model-{i}" for i in range(10_000)]
    with pytest.raises(RecordError, match="10001 models.*TQ_MAX_MODELS"):
        pipeline.submit_experiment(store, spec)
    assert store.list_experiments() == [] and store.client.keys("tq:exp:*") == []
