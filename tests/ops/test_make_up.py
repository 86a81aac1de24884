"""`make up` and `make down` as an operator runs them: the five real services on free ports, Ctrl-C, leftovers.

`make up` is started in its own session and stopped with SIGINT to that whole process group, which is what Ctrl-C in
a terminal does. Ports, the data directory and the env file are the test's own, so nothing here touches a stack a
developer is running.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from ops_processes import REPO, base_env, free_port, port_open, wait_until

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 240


@dataclass
class RunningStack:
    process: subprocess.Popen
    ports: dict[str, int]
    env: dict[str, str]
    env_file: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def open_ports(self) -> list[str]:
        return [name for name, port in self.ports.items() if port_open(port)]


def distinct_free_ports(names: list[str]) -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(names):
        ports = {name: free_port() for name in names}
    return ports


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def healthz_ok(url: str) -> bool:
    status, body = get(url)
    return status == 200 and json.loads(body).get("ok") is True


def make_down(stack: RunningStack) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "down", f"ENV_FILE={stack.env_file}"], cwd=REPO, env=stack.env,
                          capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def make_up(tmp_path: Path) -> Iterator[RunningStack]:
    ports = distinct_free_ports(["redis", "local_openai", "web", "flower"])
    env = base_env(REDIS_URL=f"redis://127.0.0.1:{ports['redis']}/0", LOCAL_OPENAI_PORT=str(ports["local_openai"]),
                   OPENAI_BASE_URL=f"http://127.0.0.1:{ports['local_openai']}/v1", WEB_PORT=str(ports["web"]),
                   FLOWER_PORT=str(ports["flower"]), TQ_DATA_DIR=str(tmp_path / "data"), WEB_WORKERS="1",
                   WORKER_CONCURRENCY="2")
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    log_path = tmp_path / "make-up.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["make", "up", f"ENV_FILE={env_file}"], cwd=REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    stack = RunningStack(process, ports, env, env_file, log_path)
    try:
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        make_down(stack)


def wait_until_serving(stack: RunningStack) -> None:
    def all_open() -> bool:
        assert stack.process.poll() is None, f"make up exited early:\n{stack.log()[-4000:]}"
        return len(stack.open_ports()) == len(stack.ports)

    wait_until(all_open, START_TIMEOUT_S, f"every port to answer ({stack.ports})", interval_s=0.5)
    # The web /healthz also needs the worker and local_openai to answer, which may come up after the port opens.
    web = f"http://127.0.0.1:{stack.ports['web']}/healthz"
    wait_until(lambda: healthz_ok(web), START_TIMEOUT_S, f"{web} to report ok", interval_s=1)
    # The worker is up once it answers the doctor's ping over the broker.
    wait_until(lambda: doctor(stack).returncode == 0, START_TIMEOUT_S, "`python -m worker doctor` to pass",
               interval_s=1)


def doctor(stack: RunningStack) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker", "doctor"], cwd=REPO, env=stack.env, capture_output=True,
                          text=True, timeout=120)


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            found += map(int, children)
            stack += map(int, children)
    return found


def honcho_main(make_pid: int) -> int:
    """The honcho process itself, not the per-service helpers it forks (they share its command line)."""
    honchos = [pid for pid in descendants(make_pid)
               if any(arg.endswith(b"/honcho") for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))]
    parents = {pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in honchos}
    return next(pid for pid in honchos if parents[pid] not in honchos)


def test_make_up_serves_every_port_and_ctrl_c_stops_them_all(tmp_path):
    with make_up(tmp_path) as stack:
        wait_until_serving(stack)
        status, body = get(f"http://127.0.0.1:{stack.ports['local_openai']}/healthz")
        assert status == 200, body
        assert get(f"http://127.0.0.1:{stack.ports['flower']}/healthcheck") == (200, "OK")
        report = doctor(stack)
        assert report.returncode == 0, report.stdout + report.stderr
        assert "All 5 checks passed." in report.stdout and "workers   1 worker(s) answered" in report.stdout

        os.killpg(stack.process.pid, signal.SIGINT)
        stack.process.wait(60)
        assert "SIGINT received" in stack.log()
        assert stack.open_ports() == [], stack.log()[-4000:]


def test_make_down_stops_what_a_killed_make_up_left_behind_and_nothing_else(tmp_path):
    with make_up(tmp_path) as stack:
        wait_until_serving(stack)
        os.kill(honcho_main(stack.process.pid), signal.SIGKILL)
        stack.process.wait(30)
        left = stack.open_ports()
        assert left, "killing honcho took every service down with it; nothing left for make down to stop"

        # A live process that `make up` did not start, named in a pidfile: make down must leave it alone.
        bystander = subprocess.Popen(["sleep", "300"])
        (tmp_path / "data" / "run" / "bystander.pid").write_text(f"{bystander.pid}\n")
        try:
            result = make_down(stack)
            assert result.returncode == 0, result.stdout + result.stderr
            for name in left:
                assert f"stopping {name}" in result.stdout, result.stdout
            assert stack.open_ports() == []
            assert bystander.poll() is None, "make down killed a process make up did not start"
            assert list((tmp_path / "data" / "run").glob("*.pid")) == []
        finally:
            bystander.kill()
            bystander.wait()
