"""Start and stop the development stack: embedded Redis, local_openai and Celery workers, as child processes.

Used by `python -m worker demo` and by the test fixtures (the Procfile runs each service in the foreground itself,
Redis through `python -m worker.redis_server`, whose command line this module reuses). Every process started here is
stopped by `Stack.stop()`, also on errors and Ctrl-C; a service already answering at its configured address is
reused and left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from shared.settings import load_settings
from worker.celery_app import QUEUES, create_celery_app
from worker.redis_server import redis_command

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A service did not start; the message says which, why, and where its log is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_available(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int | None) -> int:
    """`preferred` when it is free (a configured port), else any free port."""
    return preferred if preferred and port_available(preferred) else free_port()


def redis_reachable(url: str, timeout_s: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def local_openai_command(port: int, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "local_openai",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]


def worker_command(
    name: str = "worker",
    concurrency: int = 4,
    pool: str = "threads",
    queues: Sequence[str] = QUEUES,
    loglevel: str = "INFO",
) -> list[str]:
    """A Celery worker on every tunequeue queue.

    The thread pool suits this workload (HTTP calls to the provider, no CPU work in the worker) and keeps a whole
    worker in one process, so killing it kills its tasks too.
    """
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker",
        "worker",
        "-Q",
        ",".join(queues),
        "-n",
        f"{name}@%h",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the service's process group (a Celery worker shuts down warm), SIGKILL it after `timeout_s`."""
        if not self.alive():
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", self.name, timeout_s)
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: what a crash or an OOM kill does to a worker."""
        if self.alive():
            self._signal(signal.SIGKILL)
        self.process.wait(10)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


@dataclass
class Stack:
    """The processes of one development stack. Use as a context manager, or call `stop()` yourself."""

    var_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    services: list[Service] = field(default_factory=list)
    redis_url: str | None = None
    openai_base_url: str | None = None

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def spawn(
        self,
        name: str,
        command: Sequence[str],
        ready: Callable[[], bool],
        timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> Service:
        """Start `command` in its own process group with output in var_dir/logs/<name>.log; wait for `ready()`."""
        logs = self.var_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        with open(log_path, "ab") as out:
            process = subprocess.Popen(
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env if env is not None else self.env),
                start_new_session=True,
            )
        service = Service(name, process, log_path)
        self.services.append(service)
        deadline = time.monotonic() + timeout_s
        while not ready():
            if not service.alive():
                raise StackError(
                    f"{name} exited with status {process.returncode} while starting; "
                    f"its log ({log_path}) ends with:\n{service.log_tail()}"
                )
            if time.monotonic() > deadline:
                service.stop()
                raise StackError(f"{name} was not ready after {timeout_s:.0f} s; see {log_path}:\n{service.log_tail()}")
            time.sleep(0.1)
        log.info("%s started (pid %d, log %s)", name, process.pid, log_path)
        return service

    def start_redis(self, port: int | None = None, reuse_url: str | None = None) -> str:
        """Reuse `reuse_url` when a Redis answers there, else start the embedded one under var_dir/redis, on `port`
        when that is free, else on any free port."""
        if reuse_url and redis_reachable(reuse_url):
            log.info("using the Redis already running at %s", reuse_url)
            self.redis_url = reuse_url
        else:
            port = pick_port(port)
            data_dir = self.var_dir / "redis"
            data_dir.mkdir(parents=True, exist_ok=True)
            url = f"redis://127.0.0.1:{port}/0"
            self.spawn(
                "redis", redis_command(port, data_dir.resolve()), lambda: redis_reachable(url, 0.2), timeout_s=20
            )
            self.redis_url = url
        self.env["REDIS_URL"] = self.redis_url
        return self.redis_url

    def start_local_openai(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        reuse_url: str | None = None,
        timeout_s: float = 120.0,
    ) -> str:
        """Reuse a backend answering at `reuse_url`, else start local_openai with data under var_dir/local_openai,
        on `port` when that is free, else on any free port."""
        if reuse_url and http_ok(f"{reuse_url.rstrip('/')}/models"):
            log.info("using the OpenAI-compatible backend already running at %s", reuse_url)
            base_url = reuse_url.rstrip("/")
        else:
            port = pick_port(port)
            data_dir = data_dir or self.var_dir / "local_openai"
            data_dir.mkdir(parents=True, exist_ok=True)
            base_url = f"http://127.0.0.1:{port}/v1"
            self.spawn(
                "local_openai",
                local_openai_command(port, data_dir),
                lambda: http_ok(f"{base_url}/models", 0.5),
                timeout_s=timeout_s,
            )
        self.openai_base_url = base_url
        self.env["OPENAI_BASE_URL"] = base_url
        return base_url

    def start_worker(
        self,
        name: str = "worker",
        concurrency: int = 4,
        timeout_s: float = 60.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> Service:
        """Start a Celery worker and wait until it answers a ping over the broker."""
        env = {**self.env, **(extra_env or {})}
        hostname = f"{name}@{socket.gethostname()}"
        return self.spawn(
            name, worker_command(name, concurrency), lambda: self.worker_ready(hostname), timeout_s=timeout_s, env=env
        )

    def worker_ready(self, hostname: str) -> bool:
        # the ping goes over this stack's broker, whatever this process's environment says
        app = create_celery_app(load_settings(self.env), name="tunequeue-ping")
        try:
            return bool(app.control.ping(destination=[hostname], timeout=0.5))
        finally:
            app.close()

    def service(self, name: str) -> Service:
        return next(s for s in reversed(self.services) if s.name == name)

    def stop(self) -> None:
        """Stop workers first (they finish or hand back their tasks), then the backend, then Redis."""
        for service in reversed(self.services):
            service.stop()
            log.info("%s stopped", service.name)
        self.services.clear()
