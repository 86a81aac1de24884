"""`python -m worker doctor`: check the configuration and every connection, and say what to fix.

Prints one line per check (OK or FAIL), with a `fix:` line under each failure, and exits 1 when anything failed,
so it also serves scripts and container health checks. The checks themselves live in `shared.health`; this module
adds the one that needs Celery: asking the running workers, over the broker, which queues they consume.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict

from shared.health import Check, WorkerProbe, check_all, load_checked
from shared.settings import Settings
from worker.celery_app import QUEUES, create_celery_app

PING_TIMEOUT_S = 2.0


def worker_probe(settings: Settings, timeout_s: float = PING_TIMEOUT_S) -> WorkerProbe:
    """A probe for `shared.health.check_workers`: {worker: queues it consumes} from every worker that answers.

    It uses its own Celery app built from `settings`, so it asks the broker those settings name (the web app's
    `/healthz` can pass it too: `check_all(settings, worker_probe(settings))`).
    """

    def probe() -> dict[str, list[str]]:
        app = create_celery_app(settings, name="tunequeue-doctor")
        try:
            replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
        finally:
            app.close()
        return {name: [queue["name"] for queue in queues] for name, queues in replies.items()}

    return probe


def run_checks(environ: Mapping[str, str] | None = None, ping_timeout_s: float = PING_TIMEOUT_S) -> list[Check]:
    """Every check, in the order an operator fixes them: settings, data dir, Redis, workers, backend."""
    settings, settings_check = load_checked(environ)
    if settings is None:
        return [settings_check]
    return [settings_check, *check_all(settings, worker_probe(settings, ping_timeout_s), QUEUES)]


def format_report(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{'OK' if check.ok else 'FAIL':<4}  {check.name:<{width}}  {check.detail}")
        if not check.ok:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failed = [check.name for check in checks if not check.ok]
    if failed:
        lines.append(
            f"{len(failed)} of {len(checks)} checks failed ({', '.join(failed)}); fix them in the order shown."
        )
    else:
        lines.append(f"All {len(checks)} checks passed.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker doctor", description="Check tunequeue's configuration and connections; say what to fix."
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON instead of text")
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=PING_TIMEOUT_S,
        metavar="SECONDS",
        help="how long to wait for workers to answer (default %(default)s)",
    )
    args = parser.parse_args(argv)
    checks = run_checks(ping_timeout_s=args.ping_timeout)
    if args.json:
        print(json.dumps([asdict(check) for check in checks], indent=2))
    else:
        print(format_report(checks))
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
