"""A real HTTP proxy in front of local_openai that answers chosen requests late, to produce client timeouts.

The request is forwarded at once (so the backend really does the work, e.g. creates the fine-tuning job), and only
the response is held back: exactly what a client sees when a response is lost to a slow network.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class SlowProxy:
    def __init__(self, target: str, delays: dict[tuple[str, str], list[float]]):
        """`target`: the backend's origin (http://host:port). `delays[(method, path)]`: response delays in seconds,
        one per matching request in order (requests beyond the list are answered at once)."""
        self.target = target.rstrip("/")
        self.delays = {key: list(values) for key, values in delays.items()}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, method: str, path: str) -> int:
        return sum(1 for request in self.requests if request == (method, path))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _delay_for(self, method: str, path: str) -> float:
        with self.lock:
            self.requests.append((method, path))
            pending = self.delays.get((method, path))
            return pending.pop(0) if pending else 0.0

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                path = self.path.split("?", 1)[0]
                delay = proxy._delay_for(self.command, path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                request = urllib.request.Request(
                    proxy.target + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, reply_headers, payload = response.status, response.headers, response.read()
                except urllib.error.HTTPError as error:
                    status, reply_headers, payload = error.code, error.headers, error.read()
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for key, value in reply_headers.items():
                        if key.lower() not in HOP_HEADERS:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: the point of the delay

            do_GET = do_POST = do_DELETE = _forward

        return Handler
