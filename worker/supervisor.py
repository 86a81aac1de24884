"""Keep one service running: restart it when it exits by itself, stop it cleanly when told to.

`python -m worker.supervisor --name NAME -- COMMAND [ARG...]` runs COMMAND as its child and starts it again, after a
backoff, whenever it exits without having been asked to. `make up` runs Redis and the worker this way because honcho
stops every service as soon as one exits: a Celery worker dies when Redis restarts under a task it holds (kombu's
`restore_unacked` fails on the closed connection, kombu#970, celery#10205), and a killed Redis would otherwise end
the whole stack. A restarted worker reconnects, and the task it held comes back once the visibility timeout expires.

SIGTERM or SIGINT (honcho stopping the stack, `make down`, Ctrl-C) is passed on to the child as SIGTERM (a warm
shutdown for Celery, a clean save-and-exit for Redis; a second SIGTERM does no harm to either, unlike a second
SIGINT, which turns Celery's warm shutdown cold), and the supervisor then exits with the child's status instead of
restarting it. The child stays in the supervisor's process group, so a SIGKILL to the group (honcho after its grace
period, `make down` after 10 s) takes both down and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0
"""A child that ran this long before exiting counts as healthy: the next restart waits FIRST_DELAY_S again."""


def restart_delay_s(failures: int) -> float:
    """Wait before the `failures`-th restart in a row: 1 s, 2 s, 4 s, ... at most MAX_DELAY_S."""
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** max(0, failures - 1))


def exit_status(returncode: int) -> int:
    """The shell's convention: a child killed by signal N is reported as 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def describe(returncode: int) -> str:
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"status {returncode}"


class Supervisor:
    def __init__(self, name: str, command: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.command = list(command)
        self.clock = clock
        self.child: subprocess.Popen | None = None
        self.stopping = threading.Event()

    def stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: no more restarts; the child (if running) gets a SIGTERM."""
        self.stopping.set()
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        failures = 0
        while True:
            started = self.clock()
            self.child = subprocess.Popen(self.command)
            if self.stopping.is_set():  # a stop that came while the child was being started
                self.child.send_signal(signal.SIGTERM)
            returncode = self.child.wait()
            if self.stopping.is_set():
                return exit_status(returncode)
            ran_s = self.clock() - started
            failures = 1 if ran_s >= STABLE_AFTER_S else failures + 1
            delay = restart_delay_s(failures)
            print(
                f"supervisor: {self.name} exited with {describe(returncode)} after {ran_s:.0f} s; "
                f"restarting it in {delay:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            if self.stopping.wait(delay):
                return exit_status(returncode)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.supervisor", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the service's name in messages")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to supervise after --, e.g. -- celery -A worker worker")
    return Supervisor(args.name, command).run()


if __name__ == "__main__":
    sys.exit(main())
