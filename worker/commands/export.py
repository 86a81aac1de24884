"""`tunequeue export ID`: the same files the results page offers, `record.json` and `predictions.csv`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.export import build_manifest, item_texts, predictions_csv
from worker.commands.errors import CliError
from worker.commands.lookup import checked_id, connect_store, find_record


def cmd_export(args: argparse.Namespace) -> int:
    exp_id = checked_id(args.id)
    store = connect_store()
    record = find_record(store, exp_id)
    if args.format == "csv":
        data = predictions_csv(record, item_texts(store.get_items(exp_id)))
    else:
        data = (
            json.dumps({"manifest": build_manifest(record), "record": record}, ensure_ascii=False, indent=2) + "\n"
        ).encode("utf-8")
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror}; pass a writable path with --output") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export", help="write an experiment's record (JSON, with a manifest) or its predictions (CSV)"
    )
    export.add_argument("id")
    export.add_argument(
        "--format",
        choices=("json", "csv"),
        default="json",
        help="json: {manifest, record} as the results page's record.json; csv: the predictions (default %(default)s)",
    )
    export.add_argument("--output", type=Path, default=None, help="file to write (default: standard output)")
    export.set_defaults(handler=cmd_export)
