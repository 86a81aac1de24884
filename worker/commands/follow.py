"""Submitting an experiment and following it until it finishes: what `run` and `demo` both do."""

from __future__ import annotations

import time
from typing import TextIO

from shared.record_types import FINISHED_EXPERIMENT_STATUSES, ExperimentRecord
from shared.records import FINISHED_RUN_STATUSES, ExperimentSpec
from shared.store import Store
from worker.commands.errors import FollowInterrupted
from worker.commands.lookup import find_record
from worker.commands.render import print_record, progress_line


def wait_for(
    store: Store, exp_id: str, out: TextIO, interval_s: float = 0.5, log_every_s: float = 10.0
) -> ExperimentRecord:
    """Follow the experiment until it finishes; returns the full record.

    On a terminal the progress line is redrawn in place; otherwise (a log, CI) a line is written when a status
    changes, and at most every `log_every_s` seconds for counts alone."""
    tty = out.isatty()
    last_line: str = ""
    last_statuses: tuple[object, ...] | None = None
    last_written = 0.0
    while True:
        record = find_record(store, exp_id, with_predictions=False)
        line = progress_line(record)
        statuses = (record["status"], *[(run["status"], run.get("job_status")) for run in record["runs"]])
        now = time.monotonic()
        if tty and line != last_line:
            out.write("\r\033[K" + line)
        elif not tty and line != last_line and (statuses != last_statuses or now - last_written >= log_every_s):
            out.write(line + "\n")
            last_statuses, last_written = statuses, now
        out.flush()
        last_line = line
        if record["status"] in FINISHED_EXPERIMENT_STATUSES and all(
            run["status"] in FINISHED_RUN_STATUSES for run in record["runs"]
        ):
            break
        time.sleep(interval_s)
    if tty:
        out.write("\n")
    return find_record(store, exp_id)


EXIT_PARTIAL = 3
"""`run`/`demo` exit status of an experiment where some runs succeeded and others failed."""


def exit_status(record: ExperimentRecord) -> int:
    """0 when every run succeeded, EXIT_PARTIAL when some did and the others failed, 1 otherwise (failed or
    cancelled); 2 is left to usage and connection errors."""
    return {"succeeded": 0, "partial": EXIT_PARTIAL}.get(record["status"], 1)


def warn_without_workers(out: TextIO) -> None:
    from worker.celery_app import app

    if not app.control.ping(timeout=1.0):
        out.write(
            "warning: no worker answered; the experiment waits in the queue until one runs: "
            "`celery -A worker worker -Q tunequeue,training,evaluation` (or `make up`)\n"
        )


def execute(store: Store, spec: ExperimentSpec, as_json: bool, out: TextIO, err: TextIO) -> ExperimentRecord:
    """Submit, follow and print; shared by `run` and `demo`."""
    from worker.pipeline import submit_experiment

    exp_id = submit_experiment(store, spec)
    err.write(f"experiment {exp_id} queued (follow it with `python -m worker show {exp_id}`)\n")
    warn_without_workers(err)
    try:
        record = wait_for(store, exp_id, err)
    except KeyboardInterrupt:
        err.write(f"\nstopped following {exp_id}\n")
        raise FollowInterrupted(exp_id) from None
    print_record(record, as_json, out)
    return record
