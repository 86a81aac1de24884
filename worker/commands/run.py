"""`tunequeue run`: run an experiment on the running stack and print the comparison."""

from __future__ import annotations

import argparse
import sys

from worker.commands.errors import FollowInterrupted
from worker.commands.follow import execute, exit_status
from worker.commands.lookup import connect_store
from worker.commands.spec import add_experiment_arguments, build_spec


def cmd_run(args: argparse.Namespace) -> int:
    store = connect_store()
    spec = build_spec(
        store,
        args.data,
        args.text_column,
        args.label_column,
        args.model,
        args.zero_shot,
        args.preset,
        args.validation_count,
    )
    try:
        record = execute(store, spec, args.json, sys.stdout, sys.stderr)
    except FollowInterrupted as interrupted:
        print(
            f"{interrupted.exp_id} keeps running on the workers: `python -m worker show {interrupted.exp_id}`",
            file=sys.stderr,
        )
        raise
    return exit_status(record)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="run an experiment on the running stack and print the comparison")
    add_experiment_arguments(run)
    run.set_defaults(handler=cmd_run)
