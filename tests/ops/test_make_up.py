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
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from ops_processes import REPO, base_env, free_port, port_open, wait_until

from shared.record_types import FINISHED_EXPERIMENT_STATUSES
from shared.store import Store, predictions_key

T = TypeVar("T")

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
    return subprocess.run(
        ["make", "down", f"ENV_FILE={stack.env_file}"],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextlib.contextmanager
def make_up(tmp_path: Path, **settings: str) -> Iterator[RunningStack]:
    """`make up` on free ports with its data under tmp_path; `settings`: more environment for every service."""
    ports = distinct_free_ports(["redis", "local_openai", "web", "flower"])
    env = base_env(
        REDIS_URL=f"redis://127.0.0.1:{ports['redis']}/0",
        LOCAL_OPENAI_PORT=str(ports["local_openai"]),
        OPENAI_BASE_URL=f"http://127.0.0.1:{ports['local_openai']}/v1",
        WEB_PORT=str(ports["web"]),
        FLOWER_PORT=str(ports["flower"]),
        TQ_DATA_DIR=str(tmp_path / "data"),
        WEB_WORKERS="1",
        WORKER_CONCURRENCY="2",
        **settings,
    )
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    log_path = tmp_path / "make-up.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["make", "up", f"ENV_FILE={env_file}"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
    wait_until(
        lambda: doctor(stack).returncode == 0, START_TIMEOUT_S, "`python -m worker doctor` to pass", interval_s=1
    )


def doctor(stack: RunningStack) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker", "doctor"], cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=120
    )


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
    honchos = [
        pid
        for pid in descendants(make_pid)
        if any(arg.endswith(b"/honcho") for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))
    ]
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


# Enqueues a local-tfidf experiment on the sample CSV (270 test items) the way the web app does; prints its id.
SUBMIT = """
from pathlib import Path
from shared.dataset_sampling import REFERENCE_TRAIN_COUNTS, SamplingSpec
from shared.records import ExperimentSpec
from shared.settings import get_settings
from shared.store import Store
from worker import pipeline
csv = Path("shared/sample_data/airline_tweets_sample.csv")
store = Store.from_url(get_settings().redis_url)
sha = store.put_dataset(csv.read_bytes(), csv.name)
sampling = SamplingSpec(mode="balanced", train_counts=dict(REFERENCE_TRAIN_COUNTS), train_offset=0,
                        test_counts={label: 90 for label in REFERENCE_TRAIN_COUNTS}, test_offset=40)
spec = ExperimentSpec(dataset_sha256=sha, dataset_name=csv.name, dataset_path=str(csv), text_column="text",
                      label_column="airline_sentiment", models=["local-tfidf"], zero_shot=[], sampling=sampling)
print(pipeline.submit_experiment(store, spec))
"""


def aof_commands(path: Path) -> Iterator[list[bytes]]:
    """The commands in Redis's append-only file (RESP arrays), up to a last one cut short by a kill."""
    data, i = path.read_bytes(), 0
    try:
        while data[i : i + 1] == b"*":
            end = data.index(b"\r\n", i)
            count, i = int(data[i + 1 : end]), end + 2
            args = []
            for _ in range(count):
                end = data.index(b"\r\n", i)
                length, i = int(data[i + 1 : end]), end + 2
                args.append(data[i : i + length])
                i += length + 2
            yield args
    except ValueError:
        return


def when_redis_answers(check: Callable[[], T]) -> T | None:
    try:
        return check()
    except redis.ConnectionError:
        return None


def test_redis_killed_mid_evaluation_comes_back_and_the_experiment_finishes_with_each_item_predicted_once(tmp_path):
    """Kill redis-server while the worker holds the evaluate task. Redis and the worker come back by themselves
    (their supervisor restarts them; honcho would otherwise stop the whole stack), the data survives in the
    append-only file, the task comes back after the visibility timeout, and the experiment succeeds. The AOF, which
    logs every write, shows each test row's prediction written exactly once."""
    with make_up(
        tmp_path,
        TQ_VISIBILITY_TIMEOUT_S="20",
        TQ_REQUEST_TIMEOUT_S="4",
        TQ_POLL_INTERVAL_S="0.2",
        TQ_POLL_MAX_INTERVAL_S="1",
        TQ_MAX_RETRIES="1",
        TQ_EVAL_CONCURRENCY="1",
    ) as stack:
        wait_until_serving(stack)
        submitted = subprocess.run(
            [sys.executable, "-c", SUBMIT], cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=120
        )
        assert submitted.returncode == 0, submitted.stderr
        exp_id = submitted.stdout.split()[0]
        store = Store.from_url(stack.env["REDIS_URL"])

        def mid_evaluation() -> bool:
            progress = store.get_run(exp_id, "run-1").get("progress") or {}
            return bool(progress.get("total")) and 5 <= progress["done"] <= progress["total"] - 50

        wait_until(mid_evaluation, 180, "the evaluation to get under way", interval_s=0.02)
        redis_pid = store.client.info("server")["process_id"]
        os.kill(redis_pid, signal.SIGKILL)

        def finished() -> bool:
            record = when_redis_answers(lambda: store.get_experiment(exp_id, with_predictions=False))
            return bool(record) and record["status"] in FINISHED_EXPERIMENT_STATUSES

        wait_until(finished, 240, f"experiment {exp_id} to finish after the Redis restart", interval_s=0.5)
        assert stack.process.poll() is None, stack.log()[-4000:]
        assert "supervisor: redis exited with signal SIGKILL" in stack.log()
        assert store.client.info("server")["process_id"] != redis_pid
        record = store.get_experiment(exp_id)

    run = record["runs"][0]
    assert (record["status"], run["status"]) == ("succeeded", "succeeded"), (record["error"], run["error"])
    test_rows = record["split"]["test_rows"]
    assert len(test_rows) == 270
    assert sorted(p["row"] for p in run["predictions"]) == sorted(test_rows)
    key = predictions_key(exp_id, "run-1").encode()
    writes = Counter(
        int(args[2])
        for args in aof_commands(tmp_path / "data" / "redis" / "appendonly.aof")
        if args[0].upper() == b"HSET" and args[1] == key
    )
    assert sorted(writes) == sorted(test_rows)
    assert set(writes.values()) == {1}, sorted(row for row, n in writes.items() if n > 1)
