"""The Celery application: `create_celery_app(settings)` builds an app with the project's whole configuration.

The process-wide `app` (the one `celery -A worker` runs and the tasks are registered on) reads `shared.settings`
the first time it is used, not at import; `reconfigure` points it at other settings later.

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


def evaluation_slice_s(settings: Settings) -> float:
    """How long one `evaluate` task runs before handing the rest of the test set to a fresh task message.

    A quarter of the visibility timeout (how long Redis keeps a reserved but unacknowledged task before giving it to
    another worker): with the requests still in flight, bounded by `request_timeout_s`, which settings keep below
    another quarter, the task ends well before Redis would hand it out again.
    """
    return settings.visibility_timeout_s / 4


def evaluation_deadline_s(settings: Settings) -> float:
    """The hard bound on one `evaluate` task: half the visibility timeout. No provider request, retry or backoff
    goes past it (each request's timeout is cut to what is left), so a slow provider cannot keep a task running
    until Redis hands it to a second worker; with a Redis outage retried for at most a quarter more, every task
    ends before the visibility timeout. The thread pool ignores Celery's `time_limit`, so the task keeps this
    bound itself."""
    return settings.visibility_timeout_s / 2


def celery_config(settings: Settings) -> dict[str, object]:
    timeout = settings.visibility_timeout_s
    # Sweep for tasks abandoned by a dead worker ten times per timeout, so they run again soon after it expires.
    visibility = {
        "visibility_timeout": timeout,
        "unacked_restore_interval": max(1, int(timeout // 10)),
        "unacked_restore_throttle": 1,
    }
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


def create_celery_app(settings: Settings | None = None, name: str = "tunequeue") -> Celery:
    """An app configured from `settings`; without them, from the process-wide settings on first use.

    The probes of `worker.doctor` and `worker.stack` build their own from explicit settings, so they ask the broker
    those name whatever this process's environment says."""
    app = Celery(name, include=["worker.tasks"], set_as_current=settings is None)
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


app = create_celery_app()


def reconfigure(settings: Settings) -> None:
    """Point the process-wide app at other settings (a test stack started after the app was first used).

    Celery reads its configuration once, and its connection pool and producer pool keep the broker they were
    created for: `close()` drops the app's hold on the connection pool, and the AMQP helper, which holds the
    producer pool, is rebuilt on next use (both are then taken from kombu's pools for the new broker). Progress is
    read from the store, never from the result backend, so that one can stay: code that reads task states after a
    reconfigure reads them through an app of its own, `create_celery_app(settings)`."""
    app.conf.update(celery_config(settings))
    app.close()
    del app.amqp
