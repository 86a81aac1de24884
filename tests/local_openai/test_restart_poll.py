"""A job failed by local_openai's restart reads `failed` everywhere: the job, its events, and tunequeue's run record
(whose `job_status` stayed `running` when the poll step raised before recording it). Real server, real Redis."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from shared.dataset_sampling import REFERENCE_TRAIN_COUNTS, SamplingSpec
from shared.fine_tune_job import poll_fine_tune, start_fine_tune
from shared.prepare import prepare
from shared.records import ExperimentSpec
from shared.run_state import StepError
from shared.store import Store
from shared.upload import upload

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "shared" / "sample_data" / "airline_tweets_sample.csv"


def _experiment(store: Store) -> str:
    sha = store.put_dataset(SAMPLE_CSV.read_bytes(), SAMPLE_CSV.name)
    sampling = SamplingSpec(
        train_counts=dict(REFERENCE_TRAIN_COUNTS),
        train_offset=0,
        test_counts={label: 2 for label in REFERENCE_TRAIN_COUNTS},
        test_offset=100,
    )
    spec = ExperimentSpec(
        dataset_sha256=sha,
        dataset_name=SAMPLE_CSV.name,
        dataset_path=None,
        text_column="text",
        label_column="airline_sentiment",
        models=["local-minilm"],
        sampling=sampling,
        hyperparameters={"n_epochs": 50},
    )
    exp_id = store.create_experiment(spec, "http://provider.invalid/v1")
    prepare(store, exp_id)
    return exp_id


def test_a_job_failed_by_a_restart_reads_failed_in_the_run_record(start_server, redis_url, tmp_path):
    store = Store.from_url(redis_url)
    first = start_server(tmp_path / "data")
    client = first.client()
    exp_id = _experiment(store)
    file_id = upload(store, client, exp_id)
    job_id = start_fine_tune(store, client, exp_id, "run-1", file_id, deadline_s=600)
    for _ in range(1200):
        if poll_fine_tune(store, client, exp_id, "run-1", job_id).job_status == "running":
            break
        time.sleep(0.1)
    assert store.get_run(exp_id, "run-1")["job_status"] == "running"
    first.stop(signal.SIGKILL)

    client = start_server(tmp_path / "data").client()
    with pytest.raises(StepError, match="server stopped"):
        poll_fine_tune(store, client, exp_id, "run-1", job_id)
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.status == "failed" and job.finished_at and job.error.code == "server_restarted"
    assert [j.status for j in client.fine_tuning.jobs.list() if j.id == job_id] == ["failed"]
    assert client.fine_tuning.jobs.list_events(job_id, limit=1).data[0].level == "error"
    assert store.get_run(exp_id, "run-1")["job_status"] == "failed"
