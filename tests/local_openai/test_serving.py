"""Micro-batching and the LRU of loaded models, called directly with a recording predictor (no server needed)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from local_openai.serving import ModelCache
from local_openai.trainers.base import ChatRequest, ChatResult


class RecordingPredictor:
    """Echoes the last message and records the size of every batch it was called with."""

    def __init__(self):
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def complete(self, requests):
        with self.lock:
            self.batches.append(len(requests))
        return [ChatResult(text=str(r.messages[-1]["content"]), prompt_tokens=1, completion_tokens=1) for r in requests]


class GatedPredictor(RecordingPredictor):
    """Answers once `gate` is set."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def complete(self, requests):
        self.gate.wait()
        return super().complete(requests)


def _request(text: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], temperature=0.0, max_tokens=3, seed=1)


def test_concurrent_requests_are_batched_and_answered_in_order():
    predictor = RecordingPredictor()
    cache = ModelCache(capacity=2, window_s=0.05, max_batch=64)
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda i: cache.complete("m", lambda: predictor, _request(str(i))).text, range(64)))
    assert results == [str(i) for i in range(64)]
    assert sum(predictor.batches) == 64 and len(predictor.batches) < 64 and max(predictor.batches) > 1


def test_a_batch_waits_for_as_many_requests_as_the_previous_one_had():
    """Clients answered by one batch come back over more than one window: the next batch waits for all of them."""
    predictor = GatedPredictor()
    cache = ModelCache(capacity=1, window_s=0.005, max_batch=64, max_wait_s=5.0)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.complete, "m", lambda: predictor, _request("first"))
        time.sleep(0.2)  # answered alone; the batcher waits at the gate meanwhile
        queued = [pool.submit(cache.complete, "m", lambda: predictor, _request(str(i))) for i in range(8)]
        time.sleep(0.2)
        predictor.gate.set()
        [f.result() for f in [first, *queued]]
        spread = []
        for i in range(8):
            spread.append(pool.submit(cache.complete, "m", lambda: predictor, _request(str(i))))
            time.sleep(0.03)  # six windows apart
        [f.result() for f in spread]
    assert predictor.batches == [1, 8, 8]


def test_model_loaded_once_and_least_recently_used_unloaded():
    loads: list[str] = []

    def loader(name: str):
        def load():
            loads.append(name)
            return RecordingPredictor()

        return load

    cache = ModelCache(capacity=2, window_s=0.0, max_batch=8)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: cache.complete("a", loader("a"), _request("x")), range(16)))
    assert loads == ["a"]
    cache.complete("b", loader("b"), _request("x"))
    cache.complete("a", loader("a"), _request("x"))
    cache.complete("c", loader("c"), _request("x"))  # evicts b, the least recently used
    assert cache.loaded() == ["a", "c"]
    cache.complete("b", loader("b"), _request("x"))
    assert loads == ["a", "b", "c", "b"]


def test_predictor_errors_reach_every_waiting_request():
    class Broken:
        def complete(self, requests):
            raise RuntimeError("model exploded")

    cache = ModelCache(capacity=1, window_s=0.01, max_batch=8)
    try:
        cache.complete("x", Broken, _request("x"))
    except RuntimeError as exc:
        assert "exploded" in str(exc)
    else:
        raise AssertionError("the predictor's error was swallowed")
