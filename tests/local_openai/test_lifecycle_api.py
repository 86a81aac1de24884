"""Cancellation and restart survival with real trainers and real server processes."""

from __future__ import annotations

import signal
import time

from local_server import fine_tune, labelled_texts, training_file, wait_for_job


def _wait_for_training_step(client, job_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job_id, limit=100)):
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} reported no training step within {timeout} s")


def _start_minilm_job(client, **kwargs):
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(10, seed=3))), purpose="fine-tune")
    return client.fine_tuning.jobs.create(
        training_file=uploaded.id, model="local-minilm", hyperparameters={"n_epochs": 50}, **kwargs
    )


def test_cancel_running_and_queued_jobs(start_server):
    client = start_server().client()
    running = _start_minilm_job(client)
    _wait_for_training_step(client, running.id)
    queued = _start_minilm_job(client)
    assert wait_for_job(client, queued.id, statuses=("queued",)).status == "queued"
    assert client.fine_tuning.jobs.cancel(queued.id).status == "cancelled"  # never started: ends at once
    client.fine_tuning.jobs.cancel(running.id)
    running = wait_for_job(client, running.id, timeout=60)
    assert running.status == "cancelled" and running.fine_tuned_model is None
    messages = [e.message for e in client.fine_tuning.jobs.list_events(running.id, limit=200)]
    assert messages[0] == "Job cancelled"
    assert wait_for_job(client, queued.id).status == "cancelled"


def test_restart_keeps_models_fails_the_interrupted_job_and_resumes_the_queue(start_server, tmp_path):
    data_dir = tmp_path / "restart"
    first = start_server(data_dir)
    client = first.client()
    items = labelled_texts(6, seed=4)
    done = fine_tune(client, "local-tfidf", items, suffix="keep")
    question = [{"role": "user", "content": items[0][0]}]
    before = client.chat.completions.create(model=done.fine_tuned_model, messages=question).choices[0].message.content
    interrupted = _start_minilm_job(client)
    _wait_for_training_step(client, interrupted.id)
    waiting = client.fine_tuning.jobs.create(training_file=done.training_file, model="local-tfidf")
    assert wait_for_job(client, waiting.id, statuses=("queued",)).status == "queued"
    first.stop(signal.SIGKILL)  # a crash, not a clean shutdown

    client = start_server(data_dir).client()
    assert client.fine_tuning.jobs.retrieve(done.id).status == "succeeded"
    after = client.chat.completions.create(model=done.fine_tuned_model, messages=question).choices[0].message.content
    assert after == before == items[0][1]
    job = client.fine_tuning.jobs.retrieve(interrupted.id)
    assert job.status == "failed" and job.error.code == "server_restarted"
    newest = client.fine_tuning.jobs.list_events(job.id, limit=1).data[0]
    assert newest.level == "error" and "server stopped" in newest.message
    assert wait_for_job(client, waiting.id).status == "succeeded"  # a job still queued is trained after the restart
