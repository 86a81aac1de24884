"""Celery task states in the result backend, with a real worker, Redis and local_openai: a failed run's task ends in
FAILURE with its error (what Flower shows), the other run's tasks in SUCCESS, the chord finishes and the experiment
is summarized as `partial`; an evaluation handed over between slices is a fresh message, not a retry."""

from __future__ import annotations

import pytest
from celery.result import AsyncResult
from slow_proxy import SlowProxy
from test_pipeline import sample_spec
from worker_helpers import wait_finished, wait_until

from shared.settings import load_settings
from worker import pipeline
from worker.celery_app import create_celery_app


@pytest.mark.slow
def test_a_failed_run_fails_its_task_and_the_chord_still_summarizes(start_worker, tq_stack, tq_store):
    """run-1 names a model the provider cannot fine-tune; run-2 fine-tunes local-tfidf and is evaluated through a
    proxy that answers each question 0.8 s late, so its 2.5 s slices (a quarter of the 10 s visibility timeout) hand
    the evaluation over several times."""
    origin = tq_stack.openai_base_url.rsplit("/v1", 1)[0]
    proxy = SlowProxy(origin, {("POST", "/v1/chat/completions"): [0.8] * 9})
    try:
        worker = start_worker(
            OPENAI_BASE_URL=f"{proxy.url}/v1",
            TQ_VISIBILITY_TIMEOUT_S=10,
            TQ_REQUEST_TIMEOUT_S=2,
            TQ_MAX_RETRIES=0,
            TQ_POLL_INTERVAL_S=0.5,
            TQ_POLL_MAX_INTERVAL_S=2,
            TQ_EVAL_CONCURRENCY=1,
        )
        spec = sample_spec(tq_store, models=["no-such-model", "local-tfidf"], test_per_class=3)
        exp_id = tq_store.create_experiment(spec, f"{proxy.url}/v1")
        result = pipeline.experiment_canvas(tq_store.get_experiment(exp_id, with_predictions=False)).apply_async()
        try:
            record = wait_finished(tq_store, exp_id, timeout_s=240)
            # States are read through an app built for this stack: `reconfigure` moves this process's app to the
            # stack's broker but keeps the result backend an earlier test may have bound it to.
            states = create_celery_app(load_settings(tq_stack.env))
            wait_until(states.AsyncResult(result.id).ready, 30, "the chord to finish")
            sent = [
                states.AsyncResult(each.id) for each in pipeline.sent_results(result) if isinstance(each, AsyncResult)
            ]
            tasks = {(task.name, (task.args or [None])[-1]): task for task in sent if task.name}
        finally:
            pipeline.release_results(result)
    finally:
        proxy.close()

    failed_run, good_run = record["runs"]
    assert failed_run["status"] == "failed" and good_run["status"] == "succeeded", good_run["error"]
    assert record["status"] == "partial" and record["summary"]["best_run"] == "run-2"

    failed = tasks[("tunequeue.start_fine_tune", "run-1")]
    assert failed.state == "FAILURE"
    assert type(failed.result).__name__ == "TaskFailed" and str(failed.result) == failed_run["error"]
    for name in ("tunequeue.prepare", "tunequeue.upload"):
        assert tasks[(name, exp_id)].state == "SUCCESS"
    for name in ("tunequeue.start_fine_tune", "tunequeue.poll_fine_tune", "tunequeue.evaluate"):
        assert tasks[(name, "run-2")].state == "SUCCESS"
    evaluated = tasks[("tunequeue.evaluate", "run-2")]
    assert evaluated.result == "run-2"
    assert "handing the rest to a fresh task" in worker.log_path.read_text(errors="replace")
    assert evaluated.retries == 0, "an evaluation hand-over must be a fresh message, not a RETRY"
