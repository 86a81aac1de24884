"""Helpers for the operations tests: free ports, waiting, a clean environment, the embedded Redis as a child process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis

from worker.stack import free_port  # noqa: F401 - the tests import it from here with the other helpers

REPO = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def base_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without any tunequeue setting inherited from the developer's shell."""
    names = (
        "REDIS_URL",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "FLOWER_URL",
        "FLOWER_BASIC_AUTH",
        "WEB_AUTH_TOKEN",
        "SECRET_KEY",
        "TQ_DATA_DIR",
        "LOCAL_OPENAI_PORT",
        "WEB_PORT",
        "FLOWER_PORT",
        "LOCAL_OPENAI_API_KEY",
    )
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(overrides)
    return env


def redis_ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


class EmbeddedRedis:
    """`python -m worker.redis_server` as a child process, on a free port, data in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None, password: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> EmbeddedRedis:
        env = base_env(REDIS_URL=self.url, TQ_DATA_DIR=str(self.data_dir.parent))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker.redis_server", "--dir", str(self.data_dir)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: redis_ping(self.url) or self.process.poll() is not None, 20, "redis-server to answer")
        assert self.process.poll() is None, self.process.stdout.read().decode(errors="replace")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(20)
        self.process.stdout.close()
        return code

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


class Provider(BaseHTTPRequestHandler):
    """GET /v1/models answers with the status the server was given (200 lists two models)."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        status = self.server.status  # type: ignore[attr-defined]
        body = {
            "object": "list",
            "data": [
                {"id": "local-tfidf", "object": "model", "created": 0, "owned_by": "t"},
                {"id": "local-minilm", "object": "model", "created": 0, "owned_by": "t"},
            ],
        }
        if status != 200 or self.path != "/v1/models":
            status = status if status != 200 else 404
            body = {"error": {"message": f"status {status}", "type": "test", "code": None}}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving_provider() -> Iterator[ThreadingHTTPServer]:
    """A real HTTP server on a free port answering like a provider's /v1/models; set `.status` to change it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    server.status = 200  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def provider_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"
