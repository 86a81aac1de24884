"""worker.supervisor on real processes: a child that exits is started again; SIGTERM stops child and supervisor."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from worker_helpers import REPO, wait_until

from worker.supervisor import MAX_DELAY_S, restart_delay_s

# Records each start in `starts`, then exits with status 3, or with "--wait" waits for SIGTERM and exits 0.
CHILD = """
import signal, sys, time
from pathlib import Path
log = Path(sys.argv[1])
with log.open("a") as out:
    out.write("start\\n")
if sys.argv[2:] == ["--wait"]:
    signal.signal(signal.SIGTERM, lambda *_: (log.open("a").write("sigterm\\n"), sys.exit(0)))
    while True:
        time.sleep(0.1)
sys.exit(3)
"""


def supervise(tmp_path: Path, *child_args: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "child.log"
    command = [
        sys.executable,
        "-m",
        "worker.supervisor",
        "--name",
        "child",
        "--",
        sys.executable,
        "-c",
        CHILD,
        str(log),
        *child_args,
    ]
    return subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True), log


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_a_child_that_exits_by_itself_is_started_again_and_sigterm_then_stops_the_supervisor(tmp_path):
    supervisor, log = supervise(tmp_path)
    try:
        wait_until(lambda: lines(log).count("start") >= 2, 30, "the child to be started a second time")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(30)
    assert supervisor.returncode == 3  # the last child's status, not a restart
    assert "supervisor: child exited with status 3" in supervisor.stderr.read()


def test_sigterm_reaches_the_running_child_once_and_nothing_restarts_it(tmp_path):
    supervisor, log = supervise(tmp_path, "--wait")
    wait_until(lambda: lines(log) == ["start"], 30, "the child to start")
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(30) == 0
    assert lines(log) == ["start", "sigterm"]
    assert supervisor.stderr.read() == ""


def test_restart_delay_doubles_up_to_a_cap():
    assert [restart_delay_s(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert restart_delay_s(50) == MAX_DELAY_S
