"""`tunequeue list`: the newest experiments, one line each (or their records as JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from worker.commands.errors import CliError
from worker.commands.lookup import connect_store
from worker.commands.render import experiments_table

MAX_LIMIT = 500  # the web list and the JSON API cap `limit` at the same number


def cmd_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise CliError(f"--limit {args.limit} is out of range: pass a number from 1 to {MAX_LIMIT}")
    records = connect_store().list_experiments(limit=args.limit)
    if args.json:
        sys.stdout.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    elif records:
        sys.stdout.write(experiments_table(records) + "\n")
    else:
        print("no experiments yet: start one with `tunequeue run` (or the web page)", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = commands.add_parser("list", help="list the newest experiments")
    listing.add_argument("--limit", type=int, default=50, help="how many, newest first (default %(default)s)")
    listing.add_argument("--json", action="store_true", help="print the records (without predictions) as JSON")
    listing.set_defaults(handler=cmd_list)
