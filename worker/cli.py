"""`tunequeue` (or `python -m worker`) run | show | list | cancel | export | demo | doctor: experiments from the shell.

`run` stores the CSV in Redis, enqueues the experiment, draws a progress bar on stderr while the workers work, and
prints the comparison table (or the JSON record with --json) on stdout. `demo` does the same on a stack it starts
itself (embedded Redis, local_openai, one worker) and stops afterwards, also on Ctrl-C. `list`, `cancel` and
`export` read and act on stored experiments as the web pages do. `run` and `demo` exit 0 when every run succeeded,
3 when some runs succeeded and others failed (status `partial`), 1 when none did or the experiment was cancelled,
and 2 on a usage or connection error. This module is the argparse shell; each command
lives in `worker.commands`.
"""

from __future__ import annotations

import argparse
import sys

from shared.settings import SettingsError
from worker.commands import cancel, demo, export, listing, run, show
from worker.commands.errors import CliError

DESCRIPTION = __doc__.splitlines()[0] if __doc__ else ""


def cmd_doctor(argv: list[str]) -> int:
    try:
        from worker.doctor import main as doctor_main
    except ImportError as exc:
        raise CliError(f"`doctor` is not available in this checkout ({exc})") from None
    return doctor_main(argv) or 0


def parser(prog: str = "python -m worker") -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    commands = root.add_subparsers(dest="command", required=True)
    for command in (run, show, listing, cancel, export, demo):
        command.register(commands)
    commands.add_parser("doctor", help="check configuration and connections, and say what to fix", add_help=False)
    return root


def main(argv: list[str] | None = None, prog: str = "python -m worker") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["doctor"]:
        try:
            return cmd_doctor(argv[1:])
        except CliError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    args = parser(prog).parse_args(argv)
    if args.command in ("run", "demo"):
        if args.command == "run" and not args.model and not args.zero_shot:
            parser(prog).error("name at least one model: --model MODEL (fine-tune) or --zero-shot MODEL")
        if args.model or args.zero_shot:
            args.model, args.zero_shot = args.model or [], args.zero_shot or []
    try:
        status: int = args.handler(args)
    except (CliError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


def tunequeue() -> int:
    """The `tunequeue` console script: `main` under its own name."""
    return main(prog="tunequeue")
