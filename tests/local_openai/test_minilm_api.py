"""local-minilm end to end: a real encoder fine-tuned through the API, then asked in both prompt formats."""

from __future__ import annotations

import time

import pytest
from local_server import accuracy, labelled_texts, training_file, wait_for_job

from local_openai.job_record import FINISHED


@pytest.mark.slow
def test_minilm_fine_tunes_and_generalises(client):
    train = client.files.create(file=("t.jsonl", training_file(labelled_texts(10, seed=11))), purpose="fine-tune")
    valid = client.files.create(file=("v.jsonl", training_file(labelled_texts(2, seed=13))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        training_file=train.id, validation_file=valid.id, model="local-minilm", suffix="enc", seed=3
    )
    job = wait_for_job(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.hyperparameters.n_epochs > 1 and job.trained_tokens > 0
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert len(checkpoints) == 3 and checkpoints[0].step_number > checkpoints[-1].step_number
    assert all(c.metrics.valid_loss is not None for c in checkpoints)  # validated at each epoch's end
    held_out = labelled_texts(5, seed=12)
    assert accuracy(client, job.fine_tuned_model, held_out, templated=False) >= 0.9
    assert accuracy(client, job.fine_tuned_model, held_out, templated=True) >= 0.9
    assert accuracy(client, checkpoints[-1].fine_tuned_model_checkpoint, held_out, templated=False) >= 0.6


@pytest.mark.slow
def test_a_training_job_reports_its_estimated_finish_until_it_ends(client):
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(10, seed=5))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        training_file=uploaded.id, model="local-minilm", hyperparameters={"n_epochs": 8}
    )
    estimates = []
    while job.status not in FINISHED:
        if job.status == "running" and job.estimated_finish is not None:
            estimates.append(job.estimated_finish)
        time.sleep(0.2)
        job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded", job.error
    assert job.estimated_finish is None  # OpenAI's null once the job has ended
    assert estimates, "no estimated_finish was seen while the job trained"
    assert all(job.created_at <= estimate for estimate in estimates)
    assert abs(estimates[-1] - job.finished_at) <= 5  # the last estimate, at most a second or so before the end
