"""The Celery configuration the reliability story depends on, and the canvas an experiment becomes."""

from __future__ import annotations

import pytest
from celery import Celery

from shared.retries import call_bound_s
from shared.settings import SettingsError, load_settings
from worker import pipeline, tasks
from worker.celery_app import ROUTES, celery_config, evaluation_deadline_s, evaluation_slice_s


def test_tasks_are_acknowledged_late_one_at_a_time_and_routed_by_kind():
    settings = load_settings({})
    app = Celery("check")
    app.conf.update(celery_config(settings))
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.accept_content == ["json"]
    assert {name: route["queue"] for name, route in ROUTES.items()} == {
        "tunequeue.prepare": "tunequeue",
        "tunequeue.upload": "tunequeue",
        "tunequeue.summarize": "tunequeue",
        "tunequeue.start_fine_tune": "training",
        "tunequeue.poll_fine_tune": "training",
        "tunequeue.evaluate": "evaluation",
    }
    assert {
        task.name
        for task in (
            tasks.prepare,
            tasks.upload,
            tasks.start_fine_tune,
            tasks.poll_fine_tune,
            tasks.evaluate,
            tasks.summarize,
        )
    } == set(ROUTES)


def test_every_task_fits_well_inside_the_visibility_timeout():
    for environ in (
        {},
        {"TQ_VISIBILITY_TIMEOUT_S": "1200", "TQ_REQUEST_TIMEOUT_S": "1", "TQ_POLL_MAX_INTERVAL_S": "300"},
        {
            "TQ_VISIBILITY_TIMEOUT_S": "20",
            "TQ_REQUEST_TIMEOUT_S": "4",
            "TQ_MAX_RETRIES": "1",
            "TQ_POLL_INTERVAL_S": "0.5",
            "TQ_POLL_MAX_INTERVAL_S": "1",
        },
    ):
        settings = load_settings(environ)
        timeout = settings.visibility_timeout_s
        assert celery_config(settings)["broker_transport_options"]["visibility_timeout"] == timeout
        assert evaluation_slice_s(settings) + settings.request_timeout_s <= timeout / 2
        assert settings.poll_max_interval_s <= timeout / 4
        # One provider call with all the SDK's retries ends within half the timeout, whichever task makes it.
        assert call_bound_s(settings.request_timeout_s, settings.max_retries) <= timeout / 2
        # No request or retry outlives the deadline; a Redis outage retried on top still ends before the timeout.
        assert evaluation_slice_s(settings) < evaluation_deadline_s(settings)
        assert evaluation_deadline_s(settings) + settings.redis_retry_window_s < timeout


def test_redis_retry_window_defaults_to_a_quarter_of_the_visibility_timeout_and_may_not_exceed_it():
    short = {
        "TQ_VISIBILITY_TIMEOUT_S": "20",
        "TQ_REQUEST_TIMEOUT_S": "4",
        "TQ_MAX_RETRIES": "1",
        "TQ_POLL_INTERVAL_S": "0.5",
        "TQ_POLL_MAX_INTERVAL_S": "1",
    }
    assert load_settings(short).redis_retry_window_s == 5
    assert load_settings({"TQ_REDIS_RETRY_S": "30"}).redis_retry_window_s == 30
    with pytest.raises(SettingsError, match="TQ_REDIS_RETRY_S.*TQ_VISIBILITY_TIMEOUT_S"):
        load_settings({"TQ_REDIS_RETRY_S": "100"})
    with pytest.raises(SettingsError, match="default \\(a quarter of TQ_VISIBILITY_TIMEOUT_S\\)"):
        load_settings({"TQ_REDIS_RETRY_S": "soon"})


def names(signature) -> list[str]:
    """Task names of a canvas in order (chains flattened, a chord as its header then its body)."""
    if signature.task == "celery.chord":
        return [name for part in signature.tasks for name in names(part)] + names(signature.body)
    if signature.task == "celery.chain":
        return [name for part in signature.tasks for name in names(part)]
    return [signature.task]


def test_canvas_runs_one_chain_per_fine_tuned_model_and_skips_upload_without_one():
    record = {
        "id": "exp_1",
        "runs": [
            {"id": "run-1", "kind": "fine-tuned", "base_model": "a"},
            {"id": "run-2", "kind": "zero-shot", "base_model": "b"},
        ],
    }
    assert names(pipeline.experiment_canvas(record)) == [
        "tunequeue.prepare",
        "tunequeue.upload",
        "tunequeue.start_fine_tune",
        "tunequeue.poll_fine_tune",
        "tunequeue.evaluate",
        "tunequeue.evaluate",
        "tunequeue.summarize",
    ]
    zero_shot = pipeline.run_signature("exp_1", record["runs"][1])
    assert zero_shot.immutable and zero_shot.args == ("b", "exp_1", "run-2")

    only_zero_shot = {"id": "exp_2", "runs": [record["runs"][1]]}
    assert names(pipeline.experiment_canvas(only_zero_shot)) == [
        "tunequeue.prepare",
        "tunequeue.evaluate",
        "tunequeue.summarize",
    ]


def test_reconfigure_moves_publishing_to_the_new_redis_even_after_the_old_one_was_used(redis_url, tq_stack):
    """A process that already published (so holds pooled connections) must follow a reconfiguration."""
    import redis

    from worker.celery_app import app, reconfigure

    stack_settings = load_settings(tq_stack.env)
    servers = {"web": redis.Redis.from_url(redis_url), "stack": redis.Redis.from_url(tq_stack.redis_url)}
    for server in servers.values():
        server.delete("probe")
    try:
        for target, url in (("web", redis_url), ("stack", tq_stack.redis_url)):
            reconfigure(load_settings({**tq_stack.env, "REDIS_URL": url}))
            app.send_task("tunequeue.probe", queue="probe")
            assert {name: server.llen("probe") for name, server in servers.items()} == {
                "web": 1,
                "stack": 1 if target == "stack" else 0,
            }
    finally:
        reconfigure(stack_settings)
        for server in servers.values():
            server.delete("probe")


def test_submitting_leaves_no_result_subscription_behind(redis_url, tq_stack):
    """The result backend subscribes to every task this process sends; `release_results` drops those subscriptions
    through the backend's public API while Redis still answers (else they go when the objects are collected)."""
    import redis

    from worker.celery_app import app, reconfigure

    reconfigure(load_settings({**tq_stack.env, "REDIS_URL": redis_url}))
    try:
        record = {
            "id": "exp_0123456789ab",
            "runs": [
                {"id": "run-1", "kind": "fine-tuned", "base_model": "a"},
                {"id": "run-2", "kind": "zero-shot", "base_model": "b"},
            ],
        }
        result = pipeline.experiment_canvas(record).apply_async()
        assert app.backend.result_consumer.subscribed_to
        pipeline.release_results(result)
        assert app.backend.result_consumer.subscribed_to == set()
    finally:
        reconfigure(load_settings(tq_stack.env))
        redis.Redis.from_url(redis_url).flushdb()
