"""`tunequeue cancel ID`: cancel an experiment and its provider jobs (as the web page's Cancel button does)."""

from __future__ import annotations

import argparse
import sys

from shared.record_types import FINISHED_EXPERIMENT_STATUSES
from worker.commands.lookup import checked_id, connect_store, find_record


def cmd_cancel(args: argparse.Namespace) -> int:
    from worker.pipeline import cancel_experiment

    exp_id = checked_id(args.id)
    store = connect_store()
    record = find_record(store, exp_id, with_predictions=False)
    if record["status"] in FINISHED_EXPERIMENT_STATUSES:
        print(f"{exp_id} has already {record['status']}; nothing to cancel", file=sys.stderr)
        return 0
    cancel_experiment(store, exp_id)
    print(
        f"cancelled {exp_id}; each run stops when its worker next looks (`python -m worker show {exp_id}`)",
        file=sys.stderr,
    )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cancel = commands.add_parser("cancel", help="cancel an experiment and its fine-tuning jobs")
    cancel.add_argument("id")
    cancel.set_defaults(handler=cmd_cancel)
