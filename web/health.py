"""`/healthz`: every health check with what to fix, and an HTTP status a probe of the web process can rely on.

The body's `ok` is true only when every check passed, workers included. The status is 503 when something this
process needs to serve pages fails (data dir, Redis, backend); a missing worker alone keeps it 200, so a container
probe does not restart the web app while workers restart. `?strict=1` makes any failed check a 503 (for a check of
the whole system).
"""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify, request

from shared.health import check_all
from worker.celery_app import QUEUES
from worker.doctor import worker_probe

bp = Blueprint("health", __name__)

WORKER_PING_TIMEOUT_S = 1.0
"""How long `/healthz` waits for workers to answer (every call waits this long: replies are gathered until then)."""
ADVISORY_CHECKS = frozenset({"workers"})
"""Checks reported in the body that fail the status only with `?strict=1`."""


@bp.get("/healthz")
def healthz():
    settings = current_app.config["SETTINGS"]
    checks = check_all(settings, worker_probe(settings, WORKER_PING_TIMEOUT_S), QUEUES)
    strict = request.args.get("strict", "").lower() in ("1", "true", "yes")
    failed = {check.name for check in checks if not check.ok}
    blocking = failed if strict else failed - ADVISORY_CHECKS
    return jsonify(ok=not failed, checks=[asdict(check) for check in checks]), (503 if blocking else 200)
