"""`/healthz`: 200 when every dependency answers, 503 listing what failed and how to fix it otherwise."""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify

from shared.health import check_all

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = [asdict(check) for check in check_all(current_app.config["SETTINGS"])]
    ok = all(check["ok"] for check in checks)
    return jsonify(ok=ok, checks=checks), (200 if ok else 503)
