"""Helpers for driving a real `python -m local_openai` process through the official openai SDK."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai

from local_openai.job_record import FINISHED
from shared.jsonl import chat_jsonl

REPO = Path(__file__).resolve().parents[2]
SYSTEM = "You label short customer messages as positive, negative or neutral."
TEMPLATE = (
    "What is the sentiment expressed in the following message?\n"
    "            Select sentiment value from positive, negative, or neutral.\n"
    "            message: {text}"
)


class Server:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_openai", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data_dir)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "LOCAL_OPENAI_API_KEY": "", **(env or {})},
        )
        self.url = self._wait_for_url()
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("local_openai listening on "):
                return line.split()[-1]
        self.stop()
        raise RuntimeError("server did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def client(self, api_key: str = "unused", **kwargs) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=api_key, max_retries=0, timeout=30, **kwargs)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


WORDS = {
    "positive": ["great", "amazing", "wonderful", "excellent", "lovely", "fantastic", "friendly", "perfect"],
    "negative": ["terrible", "awful", "horrible", "rude", "broken", "disgusting", "useless", "worst"],
    "neutral": ["scheduled", "listed", "located", "numbered", "printed", "posted", "registered", "parked"],
}
SUBJECTS = ["the crew", "the seat", "the flight", "the lounge", "the meal", "the gate agent", "the app", "the bag"]


def labelled_texts(n_per_label: int, seed: int) -> list[tuple[str, str]]:
    """Short messages whose label is carried by one word, so a working classifier is near-perfect on them."""
    rng = random.Random(seed)
    items = []
    for label, words in WORDS.items():
        for _ in range(n_per_label):
            verb = "was" if label != "neutral" else "is"
            items.append((f"{rng.choice(SUBJECTS).capitalize()} {verb} {rng.choice(words)} today", label))
    rng.shuffle(items)
    return items


def training_file(items: list[tuple[str, str]]) -> bytes:
    return chat_jsonl(
        [
            [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": text},
                {"role": "assistant", "content": label},
            ]
            for text, label in items
        ]
    )


def wait_for_job(client: openai.OpenAI, job_id: str, statuses=FINISHED, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout} s")


def fine_tune(client: openai.OpenAI, model: str, items: list[tuple[str, str]], **kwargs):
    uploaded = client.files.create(file=("train.jsonl", training_file(items)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(training_file=uploaded.id, model=model, **kwargs)
    return wait_for_job(client, job.id)


def accuracy(client: openai.OpenAI, model: str, items: list[tuple[str, str]], templated: bool) -> float:
    correct = 0
    for text, label in items:
        messages = (
            [{"role": "user", "content": TEMPLATE.format(text=text)}]
            if templated
            else [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        )
        answer = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=10)
        correct += answer.choices[0].message.content == label
    return correct / len(items)


def post_raw(
    url: str, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    """POST bytes the SDK would never send (NaN literals, huge or deeply nested bodies); (status, JSON body)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
