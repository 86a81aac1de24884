"""`tunequeue show ID`: print an experiment's comparison table or JSON record."""

from __future__ import annotations

import argparse
import sys

from worker.commands.lookup import checked_id, connect_store, find_record
from worker.commands.render import print_record


def cmd_show(args: argparse.Namespace) -> int:
    exp_id = checked_id(args.id)
    print_record(find_record(connect_store(), exp_id), args.json, sys.stdout)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = commands.add_parser("show", help="print an experiment's comparison table or JSON record")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)
