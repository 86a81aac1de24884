"""Health checks behind `GET /healthz` and `python -m worker doctor`.

Each check answers one question an operator asks when something is stuck (is the configuration valid, does Redis
answer, is a worker listening on every queue, does the model provider answer) and, when the answer is no, says what
to do about it. `shared/` never imports Celery, so the worker check takes a probe function: `worker.doctor` passes
one that asks the running workers over the broker.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import openai
import redis

from shared.provider import make_client
from shared.settings import Settings, SettingsError, load_settings, redact_url

WorkerProbe = Callable[[], Mapping[str, Iterable[str]]]
"""Returns {worker name: names of the queues it consumes} for every worker that answered."""

REDIS_TIMEOUT_S = 2.0
BACKEND_TIMEOUT_S = 5.0

T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One health check: `fix` is empty when `ok`, and otherwise says concretely what to change."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def load_checked(environ: Mapping[str, str] | None = None) -> tuple[Settings | None, Check]:
    """Load the settings and report whether they are valid; `None` settings when they are not."""
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        return None, Check(
            "settings",
            False,
            str(exc),
            "correct that variable in the environment or in .env (.env.example documents each one)",
        )
    return settings, Check(
        "settings", True, f"REDIS_URL={redact_url(settings.redis_url)} OPENAI_BASE_URL={settings.openai_base_url}"
    )


def check_data_dir(settings: Settings) -> Check:
    """The data directory (local_openai files, embedded Redis, demo output) exists or can be made, and is writable."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return Check(
            "data dir",
            False,
            f"{path.resolve()} is not writable: {exc.strerror or exc}",
            f"set TQ_DATA_DIR to a directory this user can write, or fix the permissions of {path}",
        )
    return Check("data dir", True, f"{path.resolve()} is writable")


def check_redis(settings: Settings, timeout_s: float = REDIS_TIMEOUT_S) -> Check:
    """Redis answers PING, and will not evict keys (records and queued tasks never expire)."""
    url = redact_url(settings.redis_url)
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
        policy = _eviction_policy(client)
    except redis.AuthenticationError as exc:
        return Check(
            "redis",
            False,
            f"{url} refused the credentials: {exc}",
            "put the right password in REDIS_URL (redis://:PASSWORD@host:6379/0)",
        )
    except redis.RedisError as exc:
        return Check(
            "redis",
            False,
            f"cannot reach {url}: {exc}",
            "start Redis (`make up` runs one; or `.venv/bin/python -m worker.redis_server`) "
            "or point REDIS_URL at a reachable Redis",
        )
    finally:
        client.close()
    if policy not in (None, "noeviction"):
        return Check(
            "redis",
            False,
            f"{url} answers but maxmemory-policy is {policy}: Redis may drop "
            f"queued tasks and experiment records when memory runs short",
            "set `maxmemory-policy noeviction` in redis.conf (or CONFIG SET maxmemory-policy noeviction)",
        )
    shown = policy or "unknown (CONFIG GET is not allowed on this server)"
    return Check("redis", True, f"{url} answers PING; maxmemory-policy {shown}")


def _eviction_policy(client: redis.Redis) -> str | None:
    try:
        return client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.RedisError:  # managed Redis services often disable CONFIG; the policy is then unknown, not wrong
        return None


def check_workers(probe: WorkerProbe, queues: Iterable[str]) -> Check:
    """At least one worker answers, and every queue has a consumer (else its tasks wait forever)."""
    queues = list(queues)
    try:
        answered = {name: set(consumed) for name, consumed in probe().items()}
    except Exception as exc:  # the probe talks to the broker; whatever breaks there is this check's failure
        return Check(
            "workers",
            False,
            f"could not ask the workers: {type(exc).__name__}: {exc}",
            "make the redis check pass first: workers are reached through Redis",
        )
    queue_option = f" -Q {','.join(queues)}" if queues else ""
    start = f"`.venv/bin/celery -A worker worker{queue_option}` (or `make up`)"
    if not answered:
        return Check("workers", False, "no worker answered the ping", f"start a worker on this Redis: {start}")
    served = set().union(*answered.values())
    missing = [q for q in queues if q not in served]
    names = ", ".join(sorted(answered))
    if missing:
        return Check(
            "workers",
            False,
            f"{len(answered)} worker(s) answered ({names}) but none consumes "
            f"queue(s) {', '.join(missing)}: their tasks wait forever",
            f"start a worker that consumes {', '.join(missing)}: {start}",
        )
    served_note = f", queues {', '.join(queues)} served" if queues else ""
    return Check("workers", True, f"{len(answered)} worker(s) answered ({names}){served_note}")


def check_backend(settings: Settings, timeout_s: float = BACKEND_TIMEOUT_S) -> Check:
    """The OpenAI-compatible provider answers `GET {OPENAI_BASE_URL}/models` with the configured key."""
    base = settings.openai_base_url
    if settings.uses_local_backend:
        port = urlsplit(base).port or 80
        start = (
            f"start the local backend (`make up`, or `.venv/bin/python -m local_openai --port {port}`) or "
            f"point OPENAI_BASE_URL at a running one"
        )
    else:
        start = "check OPENAI_BASE_URL (e.g. https://api.openai.com/v1) and this host's network access to it"
    try:
        models = make_client(settings, max_retries=0, timeout_s=timeout_s).models.list()
        names = [model.id for model in models.data]
    except openai.AuthenticationError:
        return Check(
            "backend",
            False,
            f"{base} rejected the API key (401)",
            "set OPENAI_API_KEY to a valid key for this provider",
        )
    except openai.NotFoundError:
        return Check(
            "backend",
            False,
            f"{base}/models is not found (404)",
            "OPENAI_BASE_URL must be the API root that serves /models, usually ending in /v1",
        )
    except openai.APITimeoutError:
        return Check("backend", False, f"{base} did not answer within {timeout_s:g} s", start)
    except openai.APIConnectionError as exc:
        return Check("backend", False, f"cannot connect to {base}: {exc.__cause__ or exc}", start)
    except openai.APIStatusError as exc:
        return Check(
            "backend",
            False,
            f"{base}/models answered HTTP {exc.status_code}",
            "check the provider's status; the server log says why it failed",
        )
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return Check("backend", True, f"{base} answers; {len(names)} model(s): {shown}")


class TimedCache(Generic[T]):
    """Results kept for `ttl_s` seconds per key, so a health endpoint polled often does not wait on a slow check
    (a worker ping, a provider request) every time. Thread-safe; a computation that raises is not kept."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[Hashable, tuple[float, T]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and self._clock() - kept[0] < self.ttl_s:
                return kept[1]
        value = compute()
        with self._lock:
            self._kept[key] = (self._clock(), value)
        return value


def check_all(
    settings: Settings,
    probe_workers: WorkerProbe | None = None,
    queues: Iterable[str] = (),
    backend: Callable[[Settings], Check] = check_backend,
) -> list[Check]:
    """Every check for a loaded configuration; the worker check only when a probe is given.

    `queues` (the worker's `QUEUES`) must each have a consumer; without them any answering worker will do.
    `backend` runs the provider check (the web app passes a cached one).

    The worker check is reported as failed without asking when Redis is down (the probe would only hang on it).
    """
    checks = [check_data_dir(settings), check_redis(settings)]
    if probe_workers is not None:
        if checks[-1].ok:
            checks.append(check_workers(probe_workers, queues))
        else:
            checks.append(
                Check(
                    "workers",
                    False,
                    "not checked: Redis is unreachable",
                    "make the redis check pass first: workers are reached through Redis",
                )
            )
    checks.append(backend(settings))
    return checks
