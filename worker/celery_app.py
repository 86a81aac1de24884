"""The Celery application, configured from `shared.settings` the first time it is used.

Reliability choices (see docs/ARCHITECTURE.md, "Pipeline"): a task is acknowledged only after it finished
(`acks_late`), a task whose worker process died is handed to another worker (`reject_on_worker_lost`), and each
worker process reserves one task at a time (`prefetch_multiplier=1`) so a long evaluation never holds others back.
"""
from __future__ import annotations

import logging

from celery import Celery, signals
from kombu import Queue

from shared.settings import Settings, get_settings

QUEUES = ("tunequeue", "training", "evaluation")

ROUTES = {
    "tunequeue.prepare": {"queue": "tunequeue"},
    "tunequeue.upload": {"queue": "tunequeue"},
    "tunequeue.start_fine_tune": {"queue": "training"},
    "tunequeue.poll_fine_tune": {"queue": "training"},
    "tunequeue.evaluate": {"queue": "evaluation"},
    "tunequeue.summarize": {"queue": "tunequeue"},
}


def visibility_timeout_s(settings: Settings) -> float:
    """How long Redis keeps a reserved but unacknowledged task before giving it to another worker.

    With the Redis broker this is also how long a task held by a worker that was killed waits before it runs again.
    It must exceed the longest task: every task here is bounded by the provider request timeout (evaluation works
    in slices of a quarter of this value, see `evaluation_slice_s`) and poll countdowns never exceed
    `poll_max_interval_s`, so four times the larger of the two leaves a wide margin.
    """
    return max(4 * settings.request_timeout_s, 4 * settings.poll_max_interval_s, 10.0)


def evaluation_slice_s(settings: Settings) -> float:
    """How long one `evaluate` task runs before handing the rest of the test set to a fresh task message."""
    return visibility_timeout_s(settings) / 4


def poll_countdown_cap_s(settings: Settings) -> float:
    """The longest wait between two polls: the configured cap, kept well below the visibility timeout."""
    return min(settings.poll_max_interval_s, visibility_timeout_s(settings) / 4)


def celery_config(settings: Settings) -> dict[str, object]:
    timeout = visibility_timeout_s(settings)
    # Sweep for tasks abandoned by a dead worker ten times per timeout, so they run again soon after it expires.
    visibility = {"visibility_timeout": timeout, "unacked_restore_interval": max(1, int(timeout // 10)),
                  "unacked_restore_throttle": 1}
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": visibility,
        "result_backend_transport_options": visibility,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "tunequeue",
        "task_queues": [Queue(name) for name in QUEUES],
        "task_routes": ROUTES,
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "result_extended": True,
    }


def create_app(settings: Settings | None = None) -> Celery:
    """Build the app; without `settings` the process-wide settings are read on first use, not at import."""
    app = Celery("tunequeue", include=["worker.tasks"])
    if settings is None:
        app.add_defaults(lambda: celery_config(get_settings()))
    else:
        app.conf.update(celery_config(settings))
    return app


@signals.after_setup_logger.connect
def quiet_http_client(**_kwargs: object) -> None:
    """One INFO line per provider request drowns the task log; the steps log retries and failures themselves."""
    for name in ("httpx", "httpx2"):  # the HTTP client under the openai SDK (httpx2 in the pinned release)
        logging.getLogger(name).setLevel(logging.WARNING)


app = create_app()
