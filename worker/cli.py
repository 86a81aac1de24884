"""`python -m worker run | show | demo | doctor`: run an experiment from the shell and read its results.

`run` stores the CSV in Redis, enqueues the experiment, draws a progress bar on stderr while the workers work, and
prints the comparison table (or the JSON record with --json) on stdout. `demo` does the same on a stack it starts
itself (embedded Redis, local_openai, one worker) and stops afterwards, also on Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from shared.dataset import DatasetError, load_items, reference_sampling, split_items
from shared.health import redact_url
from shared.prompts import PRESETS, PromptError, get_preset
from shared.records import ExperimentSpec, RecordError, is_experiment_id, not_an_experiment_id
from shared.settings import SettingsError, get_settings
from shared.store import DatasetQuotaExceeded, Store

FINISHED = ("succeeded", "failed", "cancelled")
REPO = Path(__file__).resolve().parents[1]
TWEETS_CSV = REPO.parent / "shared" / "data" / "Tweets.csv"
SAMPLE_CSV = REPO / "shared" / "sample_data" / "airline_tweets_sample.csv"
DEFAULT_DEMO_MODELS = ("smollm2-135m-instruct", "local-minilm")
DEFAULT_DEMO_ZERO_SHOT = ("smollm2-135m-instruct",)


class CliError(Exception):
    """A user error: printed without a traceback, exit status 2."""


class FollowInterrupted(KeyboardInterrupt):
    """Ctrl-C while following a queued experiment (which keeps running)."""

    def __init__(self, exp_id: str) -> None:
        super().__init__(exp_id)
        self.exp_id = exp_id


def default_data() -> Path:
    return TWEETS_CSV if TWEETS_CSV.exists() else SAMPLE_CSV


# ------------------------------------------------------------------------------------------------ building the spec

def build_spec(store: Store, data_path: Path, text_column: str, label_column: str, models: Sequence[str],
               zero_shot: Sequence[str], preset: str) -> ExperimentSpec:
    """Check the CSV and the request here, before anything is queued, then store the CSV and return the spec."""
    try:
        data = data_path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {data_path}: {exc.strerror}; pass an existing CSV file with --data") from None
    try:
        items = load_items(data, text_column, label_column)
        sampling = reference_sampling(item.label for item in items)
        split_items(items, sampling)
        spec = ExperimentSpec(dataset_sha256="", dataset_name=data_path.name, dataset_path=str(data_path),
                              text_column=text_column, label_column=label_column, models=list(models),
                              zero_shot=list(zero_shot), sampling=sampling, prompt=get_preset(preset))
    except (DatasetError, PromptError, RecordError) as exc:
        raise CliError(f"{data_path}: {exc}") from None
    try:
        spec.dataset_sha256 = store.put_dataset(data, data_path.name, quota_bytes=get_settings().dataset_quota_bytes)
    except DatasetQuotaExceeded as exc:
        raise CliError(str(exc)) from None
    return spec


# ------------------------------------------------------------------------------------------------ progress and tables

def run_line(run: dict) -> str:
    progress = run.get("progress") or {}
    if run["status"] == "evaluating" and progress.get("total"):
        detail = f"{progress.get('done', 0)}/{progress['total']}"
    elif run["status"] == "fine_tuning":
        detail = run.get("job_status") or ""
    else:
        detail = ""
    return f"{run['base_model']} {run['status']}{' ' + detail if detail else ''}"


def progress_line(record: dict, width: int = 24) -> str:
    """`[#####.....] 42% running | local-tfidf evaluating 57/100 | ...` from a record without predictions.

    Each run counts as fine-tuning (half of its share, done once a model exists) plus evaluation (the other half, by
    items answered); a zero-shot run is all evaluation."""
    shares = []
    for run in record["runs"]:
        progress = run.get("progress") or {}
        evaluated = progress.get("done", 0) / progress["total"] if progress.get("total") else 0.0
        if run["status"] in FINISHED:
            shares.append(1.0)
        elif run["kind"] == "zero-shot":
            shares.append(evaluated)
        else:
            shares.append(0.5 * (run["status"] == "evaluating") + 0.5 * evaluated)
    fraction = sum(shares) / len(shares) if shares else 0.0
    filled = int(round(fraction * width))
    runs = " | ".join(run_line(run) for run in record["runs"])
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {record['status']} | {runs}"


def _number(value: object, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def comparison_table(record: dict) -> str:
    """The comparison: model, kind, accuracy, macro-F1, invalid, training seconds, trained tokens, cost."""
    header = ["model", "kind", "accuracy", "macro-F1", "invalid", "training s", "tokens", "cost $", "status"]
    rows = []
    for run in record["runs"]:
        scores = run.get("metrics") or {}
        name = run.get("fine_tuned_model") or run["base_model"]
        rows.append([name, run["kind"], _number(scores.get("accuracy"), 3), _number(scores.get("macro_f1"), 3),
                     "-" if scores.get("invalid") is None else str(scores["invalid"]),
                     _number(run.get("training_seconds"), 1),
                     "-" if run.get("trained_tokens") is None else str(run["trained_tokens"]),
                     _number(run.get("cost_estimate_usd"), 4), run["status"]])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for run in record["runs"]:
        if run.get("error"):
            lines.append(f"{run['id']} ({run['base_model']}) failed: {run['error']}")
    return "\n".join(lines)


def describe(record: dict) -> str:
    """A short header for the table: id, status, dataset, split sizes, best run."""
    dataset = record["dataset"]
    split = record.get("split") or {}
    lines = [f"experiment {record['id']}: {record['status']}",
             f"dataset {dataset['name']} (sha256 {dataset['sha256'][:12]}), text={dataset['columns']['text']}, "
             f"label={dataset['columns']['label']}"]
    if split:
        lines.append(f"train {len(split.get('train_rows', []))} rows {split.get('train_counts')}, "
                     f"test {len(split.get('test_rows', []))} rows {split.get('test_counts')}")
    if record.get("error"):
        lines.append(f"error: {record['error']}")
    best = (record.get("summary") or {}).get("best_run")
    if best:
        run = next(run for run in record["runs"] if run["id"] == best)
        lines.append(f"best: {best} ({run.get('fine_tuned_model') or run['base_model']})")
    return "\n".join(lines)


def wait_for(store: Store, exp_id: str, out: TextIO, interval_s: float = 0.5, log_every_s: float = 10.0) -> dict:
    """Follow the experiment until it finishes; returns the full record.

    On a terminal the progress line is redrawn in place; otherwise (a log, CI) a line is written when a status
    changes, and at most every `log_every_s` seconds for counts alone."""
    tty = out.isatty()
    last_line, last_statuses, last_written = "", None, 0.0
    while True:
        record = store.get_experiment(exp_id, with_predictions=False)
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
        if record["status"] in FINISHED and all(run["status"] in FINISHED for run in record["runs"]):
            break
        time.sleep(interval_s)
    if tty:
        out.write("\n")
    return store.get_experiment(exp_id)


def warn_without_workers(out: TextIO) -> None:
    from worker.celery_app import app

    if not app.control.ping(timeout=1.0):
        out.write("warning: no worker answered; the experiment waits in the queue until one runs: "
                  "`celery -A worker worker -Q tunequeue,training,evaluation` (or `make up`)\n")


# ------------------------------------------------------------------------------------------------ commands

def connect_store() -> Store:
    from worker.stack import redis_reachable

    url = get_settings().redis_url
    if not redis_reachable(url):
        raise CliError(f"Redis is not reachable at {redact_url(url)}: start the stack with `make up` (or `python -m "
                       f"worker.redis_server`), or set REDIS_URL to a running Redis")
    return Store.from_url(url)


def execute(store: Store, spec: ExperimentSpec, as_json: bool, out: TextIO, err: TextIO) -> dict:
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


def print_record(record: dict, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(describe(record) + "\n\n" + comparison_table(record) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    store = connect_store()
    spec = build_spec(store, args.data, args.text_column, args.label_column, args.model, args.zero_shot,
                      args.preset)
    try:
        record = execute(store, spec, args.json, sys.stdout, sys.stderr)
    except FollowInterrupted as interrupted:
        print(f"{interrupted.exp_id} keeps running on the workers: `python -m worker show {interrupted.exp_id}`",
              file=sys.stderr)
        raise
    return 0 if record["status"] == "succeeded" else 1


def cmd_show(args: argparse.Namespace) -> int:
    if not is_experiment_id(args.id):
        raise CliError(not_an_experiment_id(args.id))
    store = connect_store()
    record = store.get_experiment(args.id)
    if record is None:
        raise CliError(f"no experiment {args.id!r} in Redis at {redact_url(get_settings().redis_url)}; ids look like "
                       f"exp_0123456789ab (the web page lists them)")
    print_record(record, args.json, sys.stdout)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from worker.demo import run_demo

    return run_demo(args)


def cmd_doctor(argv: list[str]) -> int:
    try:
        from worker.doctor import main as doctor_main
    except ImportError as exc:
        raise CliError(f"`doctor` is not available in this checkout ({exc})") from None
    return doctor_main(argv) or 0


def add_experiment_arguments(parser: argparse.ArgumentParser, demo: bool = False) -> None:
    parser.add_argument("--data", type=Path, required=not demo, default=default_data() if demo else None,
                        help="labelled CSV file" + (f" (default {default_data()})" if demo else ""))
    parser.add_argument("--text-column", default="text", help="column holding the text (default %(default)s)")
    parser.add_argument("--label-column", default="airline_sentiment",
                        help="column holding the label (default %(default)s)")
    parser.add_argument("--model", action="append", default=None, metavar="MODEL",
                        help="base model to fine-tune; repeat for several" +
                             (f" (default, when no model is named: {' '.join(DEFAULT_DEMO_MODELS)})" if demo else ""))
    parser.add_argument("--zero-shot", action="append", default=None, metavar="MODEL",
                        help="model to evaluate without fine-tuning, as a baseline; repeat for several" +
                             (f" (default, when no model is named: {' '.join(DEFAULT_DEMO_ZERO_SHOT)})"
                              if demo else ""))
    parser.add_argument("--preset", default="reference", choices=sorted(PRESETS),
                        help="prompt preset (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the JSON record instead of the table")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m worker", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an experiment on the running stack and print the comparison")
    add_experiment_arguments(run)
    run.set_defaults(handler=cmd_run)
    show = commands.add_parser("show", help="print an experiment's comparison table or JSON record")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)
    demo = commands.add_parser("demo", help="start a stack, run the reference experiment, stop the stack")
    add_experiment_arguments(demo, demo=True)
    demo.add_argument("--output", type=Path, default=Path("var/demo-result.json"),
                      help="where to write the JSON record (default %(default)s)")
    demo.set_defaults(handler=cmd_demo)
    commands.add_parser("doctor", help="check configuration and connections, and say what to fix", add_help=False)
    return root


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["doctor"]:
        try:
            return cmd_doctor(argv[1:])
        except CliError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    args = parser().parse_args(argv)
    if args.command in ("run", "demo") and not args.model and not args.zero_shot:
        if args.command == "run":
            parser().error("name at least one model: --model MODEL (fine-tune) or --zero-shot MODEL")
        if args.command == "demo":
            args.model, args.zero_shot = list(DEFAULT_DEMO_MODELS), list(DEFAULT_DEMO_ZERO_SHOT)
    if args.command in ("run", "demo"):
        args.model, args.zero_shot = args.model or [], args.zero_shot or []
    try:
        return args.handler(args)
    except (CliError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
