"""`/healthz`: every health check with what to fix, and an HTTP status a probe of the web process can rely on.

The body's `ok` is true only when every check passed, workers included. The status is 503 when something this
process needs to serve pages fails (data dir, Redis, backend); a missing worker alone keeps it 200, so a container
probe does not restart the web app while workers restart. `?strict=1` makes any failed check a 503 (for a check of
the whole system).

The checks name the Redis URL, the provider URL, data paths and model ids, so with `WEB_AUTH_TOKEN` set only an
authenticated caller gets them; anyone else gets the status code and `{"status": "ok"}` (or `"unavailable"`).

The worker ping and the provider check are slow (the ping waits `WORKER_PING_TIMEOUT_S` for replies), so each
web process keeps their results for `CHECK_CACHE_S` seconds: a probe polling every second pings the workers at most
once per interval. The same cached provider check tells a submission that the provider is unreachable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import redis
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from shared.health import Check, TimedCache, check_all, check_backend
from shared.settings import Settings
from web.security import is_authenticated
from worker.pipeline import QUEUES, worker_probe

bp = Blueprint("health", __name__)

WORKER_PING_TIMEOUT_S = 1.0
"""How long a worker ping waits for workers to answer (replies are gathered until then)."""
CHECK_CACHE_S = 5.0
"""How long a web process reuses a worker ping and a provider check."""
ADVISORY_CHECKS = frozenset({"workers"})
"""Checks reported in the body that fail the status only with `?strict=1`."""
EXTENSION = "tunequeue.health"


@dataclass(frozen=True)
class _Caches:
    workers: TimedCache[Mapping[str, Iterable[str]]] = field(default_factory=lambda: TimedCache(CHECK_CACHE_S))
    """Worker pings' answers ({worker: queues}), by Redis URL."""
    backend: TimedCache[Check] = field(default_factory=lambda: TimedCache(CHECK_CACHE_S))
    """Provider checks, by base URL."""


def _caches() -> _Caches:
    """This app's caches (one per app, so apps built with other settings never share results)."""
    caches: _Caches = current_app.extensions.setdefault(EXTENSION, _Caches())
    return caches


def backend_check(settings: Settings) -> Check:
    """The provider check of `/healthz`, cached for `CHECK_CACHE_S`."""
    return _caches().backend.get(settings.openai_base_url, lambda: check_backend(settings))


def provider_warnings() -> list[str]:
    """What a submission should be told about the provider: nothing when it answers."""
    settings: Settings = current_app.config["SETTINGS"]
    check = backend_check(settings)
    if check.ok:
        return []
    return [
        f"The model provider is unreachable ({check.detail}). The experiment is queued and will run when the "
        f"provider is back; /healthz shows when it answers again."
    ]


def _caller_may_see_details() -> bool:
    """Authenticated; a session cannot be verified while Redis is down, and then counts as a stranger's."""
    try:
        return is_authenticated()
    except redis.RedisError:
        return False


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    settings: Settings = current_app.config["SETTINGS"]
    ping = worker_probe(settings, WORKER_PING_TIMEOUT_S)

    def cached_ping() -> Mapping[str, Iterable[str]]:
        return _caches().workers.get(settings.redis_url, ping)

    checks = check_all(settings, cached_ping, QUEUES, backend=backend_check)
    strict = request.args.get("strict", "").lower() in ("1", "true", "yes")
    failed = {check.name for check in checks if not check.ok}
    blocking = failed if strict else failed - ADVISORY_CHECKS
    status = 503 if blocking else 200
    summary = "unavailable" if blocking else "ok"
    if not _caller_may_see_details():
        return jsonify(status=summary), status
    return jsonify(status=summary, ok=not failed, checks=[asdict(check) for check in checks]), status
