"""Fixtures: a real `python -m local_openai` process on an ephemeral port, driven through the official openai SDK."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from local_server import Server


@pytest.fixture
def start_server(tmp_path) -> Iterator:
    servers: list[Server] = []

    def start(data_dir: Path | None = None, env: dict[str, str] | None = None) -> Server:
        servers.append(Server(data_dir or tmp_path / "data", env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("local_openai"))
    yield running
    running.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return server.client()
