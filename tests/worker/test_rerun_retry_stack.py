"""Re-run, retry and cross-experiment comparison on real processes: Redis, Celery workers and local_openai training
local-tfidf. The failures retried here are real: a provider nobody listens on, and a cancel mid-evaluation."""

from __future__ import annotations

import pytest
from test_pipeline import sample_spec
from worker_helpers import wait_finished, wait_until

from shared.fine_tune_job import start_fine_tune
from shared.prepare import prepare
from shared.retry import start_retry
from shared.settings import load_settings
from shared.upload import upload
from web import create_app
from worker import pipeline
from worker.celery_app import reconfigure
from worker.stack import free_port


def jobs_of(provider, exp_id: str) -> list:
    return [
        job
        for job in provider.fine_tuning.jobs.list(limit=100)
        if (job.metadata or {}).get("tunequeue_experiment") == exp_id
    ]


@pytest.mark.slow
def test_a_rerun_through_the_api_is_compared_with_its_original(start_worker, tq_stack, tq_store):
    start_worker(concurrency=2)
    reconfigure(load_settings(tq_stack.env))  # enqueue on this stack's Redis, whatever an earlier test configured
    client = create_app(
        {"SETTINGS": load_settings({**tq_stack.env, "SECRET_KEY": "rerun-test-secret"}), "TESTING": True}
    ).test_client()
    exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=10))
    assert wait_finished(tq_store, exp_id)["status"] == "succeeded"

    response = client.post(f"/api/experiments/{exp_id}/rerun", json={"seed": 3})
    assert response.status_code == 202, response.get_json()
    rerun = wait_finished(tq_store, response.get_json()["id"])
    assert rerun["status"] == "succeeded" and rerun["rerun_of"] == exp_id
    assert rerun["hyperparameters"]["seed"] == 3
    assert rerun["split"]["test_rows"] == tq_store.get_experiment(exp_id)["split"]["test_rows"]

    compared = client.get(f"/api/compare?runs={exp_id}:run-1,{rerun['id']}:run-1")
    assert compared.status_code == 200, compared.get_json()
    body = compared.get_json()
    (pair,) = body["comparisons"]
    assert body["n"] == 30 and 0 <= pair["p_value"] <= 1 and pair["sentence"]
    board = client.get(f"/datasets/{rerun['dataset']['sha256']}").get_data(as_text=True)
    assert f"{exp_id}:run-1" in board and f"{rerun['id']}:run-1" in board


@pytest.mark.slow
def test_a_run_failed_by_an_unreachable_provider_is_retried_in_place(start_worker, tq_store, provider):
    down = start_worker(OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=3))
    failed = wait_finished(tq_store, exp_id, timeout_s=120)
    assert failed["status"] == "failed" and failed["runs"][0]["status"] == "failed"
    assert failed["training_file"] is None and failed["split"] is not None
    down.stop()

    start_worker()
    plan = pipeline.retry_run(tq_store, exp_id, "run-1")
    assert not plan.prepare and not plan.evaluation_only  # the split is kept; the upload never happened
    record = wait_finished(tq_store, exp_id, timeout_s=180)
    run = record["runs"][0]
    assert record["status"] == "succeeded" and record["error"] is None, run["error"]
    assert run["status"] == "succeeded" and run["attempt"] == 2 and len(run["predictions"]) == 9
    assert record["summary"]["best_run"] == "run-1"
    (job,) = jobs_of(provider, exp_id)
    assert job.metadata["tunequeue_attempt"] == "2" and job.training_file == record["training_file"]["file_id"]


@pytest.mark.slow
def test_a_retry_that_fails_again_still_closes_the_experiment(start_worker, tq_store):
    """The retried chain's steps carry summarize as their error callback, as the first launch's chord does: a run
    whose job the provider refuses again ends the experiment `failed` instead of leaving it running."""
    start_worker()
    spec = sample_spec(tq_store, models=["no-such-base-model"], test_per_class=3)
    exp_id = pipeline.submit_experiment(tq_store, spec)
    first = wait_finished(tq_store, exp_id, timeout_s=120)
    assert first["status"] == "failed" and first["runs"][0]["status"] == "failed"

    pipeline.retry_run(tq_store, exp_id, "run-1")
    record = wait_finished(tq_store, exp_id, timeout_s=120)
    run = record["runs"][0]
    assert record["status"] == "failed" and run["status"] == "failed" and run["attempt"] == 2
    assert record["finished_at"] is not None and "no-such-base-model" in (run["error"] or "")


@pytest.mark.slow
def test_a_run_cancelled_during_evaluation_is_retried_without_training_again(start_worker, tq_store, provider):
    start_worker(TQ_EVAL_CONCURRENCY=1)
    exp_id = pipeline.submit_experiment(tq_store, sample_spec(tq_store, models=["local-tfidf"], test_per_class=30))
    wait_until(
        lambda: tq_store.get_run(exp_id, "run-1")["progress"]["done"] >= 3,
        120,
        "the evaluation to get under way",
        interval_s=0.02,
    )
    pipeline.cancel_experiment(tq_store, exp_id)
    cancelled = wait_finished(tq_store, exp_id, timeout_s=60)["runs"][0]
    assert cancelled["status"] == "cancelled" and cancelled["fine_tuned_model"]
    answered = len(cancelled["predictions"])
    assert 3 <= answered < 90

    plan = pipeline.retry_run(tq_store, exp_id, "run-1")
    assert plan.evaluation_only and plan.model == cancelled["fine_tuned_model"]
    record = wait_finished(tq_store, exp_id, timeout_s=180)
    run = record["runs"][0]
    assert record["status"] == "succeeded" and run["status"] == "succeeded", run["error"]
    assert len(run["predictions"]) == 90 and run["metrics"]["n"] == 90
    assert [job.id for job in jobs_of(provider, exp_id)] == [cancelled["job_id"]] == [run["job_id"]]
    assert any(
        f"evaluating {cancelled['fine_tuned_model']} on {90 - answered} of 90" in event["message"]
        for event in run["events"]
    ), [event["message"] for event in run["events"]]


def test_a_retried_attempt_starts_its_own_job_and_never_picks_up_the_cancelled_one(tq_stack, tq_store, provider):
    """The job lookup by metadata (how a task whose create response was lost finds its job) must not hand the
    retry the earlier attempt's cancelled job; a lost response in the retry still finds the retry's own job."""
    exp_id = tq_store.create_experiment(
        sample_spec(tq_store, models=["local-tfidf"], test_per_class=3), tq_stack.openai_base_url
    )
    prepare(tq_store, exp_id)
    file_id = upload(tq_store, provider, exp_id)
    first = start_fine_tune(tq_store, provider, exp_id, "run-1", file_id, deadline_s=600)
    provider.fine_tuning.jobs.cancel(first)
    tq_store.update_run(exp_id, "run-1", status="cancelled")

    start_retry(tq_store, exp_id, "run-1")
    second = start_fine_tune(tq_store, provider, exp_id, "run-1", file_id, deadline_s=600)
    assert second != first
    tq_store.update_run(exp_id, "run-1", job_id=None)  # as if the create's response had been lost
    assert start_fine_tune(tq_store, provider, exp_id, "run-1", file_id, deadline_s=600) == second
    assert provider.fine_tuning.jobs.retrieve(second).training_file == file_id
