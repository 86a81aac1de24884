"""Keeping models warm and micro-batching their chat requests.

Each loaded model gets one batcher thread. Request threads put (request, future) on its queue; the batcher takes
the first waiting request, keeps collecting (up to `max_batch_size`), answers all of them with one
`predictor.complete(batch)` call, and resolves the futures. It collects until as many requests as its previous batch
held have come (for at most `batch_max_wait_ms`), then while each next one comes within `batch_window_ms`: clients
answered together by one batch send their next requests over tens of milliseconds, and a batch started on the first
few of them would keep the rest waiting for a whole batch. A least-recently-used cache caps how many models stay
loaded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

from local_openai.trainers.base import ChatRequest, ChatResult, Predictor

log = logging.getLogger(__name__)

_STOP = object()


class Batcher:
    def __init__(self, name: str, predictor: Predictor, window_s: float, max_batch: int, max_wait_s: float):
        self.name = name
        self.predictor = predictor
        self.window_s = window_s
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._expected = 1  # the size of the previous batch: concurrent clients come back about as many
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._closing = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, request: ChatRequest) -> Future:
        future: Future = Future()
        with self._closing:
            if not self._closed:
                self._queue.put((request, future))
                return future
        # Evicted between lookup and submit: answer on the caller's thread rather than wait on a stopped batcher.
        self._answer([(request, future)])
        return future

    def stop(self) -> None:
        """Answer what is already queued, then end the thread."""
        with self._closing:
            self._closed = True
            self._queue.put(_STOP)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stopping = [first], False
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                wait = deadline - time.monotonic()
                if len(batch) >= self._expected:
                    wait = min(wait, self.window_s)
                try:
                    item = self._queue.get(timeout=max(0.0, wait))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._expected = len(batch)
            self._answer(batch)
            if stopping:
                return

    def _answer(self, batch: list[tuple[ChatRequest, Future]]) -> None:
        try:
            results = self.predictor.complete([request for request, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"model {self.name} answered {len(results)} of {len(batch)} requests")
        except Exception as exc:
            log.exception("model %s failed on a batch of %d", self.name, len(batch))
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class ModelCache:
    """model id -> warm Batcher, at most `capacity` of them; loading happens once even under concurrent requests."""

    def __init__(self, capacity: int, window_s: float, max_batch: int, max_wait_s: float | None = None):
        """`max_wait_s` defaults to `window_s`."""
        self.capacity = capacity
        self.window_s = window_s
        self.max_batch = max_batch
        self.max_wait_s = window_s if max_wait_s is None else max_wait_s
        self._batchers: OrderedDict[str, Batcher] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}

    def complete(self, model_id: str, load: Callable[[], Predictor], request: ChatRequest) -> ChatResult:
        return self._batcher(model_id, load).submit(request).result()

    def _batcher(self, model_id: str, load: Callable[[], Predictor]) -> Batcher:
        with self._lock:
            if model_id in self._batchers:
                self._batchers.move_to_end(model_id)
                return self._batchers[model_id]
            load_lock = self._load_locks.setdefault(model_id, threading.Lock())
        with load_lock:
            with self._lock:
                if model_id in self._batchers:
                    return self._batchers[model_id]
            started = time.monotonic()
            batcher = Batcher(model_id, load(), self.window_s, self.max_batch, self.max_wait_s)
            log.info("loaded model %s in %.1f s", model_id, time.monotonic() - started)
            with self._lock:
                self._batchers[model_id] = batcher
                while len(self._batchers) > self.capacity:
                    evicted_id, evicted = self._batchers.popitem(last=False)
                    evicted.stop()
                    log.info("unloaded model %s (more than %d loaded)", evicted_id, self.capacity)
            return batcher

    def unload(self, model_id: str) -> None:
        with self._lock:
            batcher = self._batchers.pop(model_id, None)
        if batcher:
            batcher.stop()

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._batchers)
