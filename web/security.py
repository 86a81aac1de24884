"""Who may use the app and how requests are checked: the optional `WEB_AUTH_TOKEN`, CSRF, response headers.

With `WEB_AUTH_TOKEN` set, every page and API call needs either `Authorization: Bearer <token>` or a session made
by the login form. Forms always carry a CSRF token (Flask-WTF). The JSON API skips the CSRF token only when the
caller cannot be a cross-site browser request: it authenticated with the bearer token, or no token is configured
and the request comes straight from this machine (a local-only bind: loopback peer, not forwarded by a proxy) without
a foreign `Origin`.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, current_app, flash, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_wtf.csrf import CSRFProtect

log = logging.getLogger(__name__)
csrf = CSRFProtect()
bp = Blueprint("auth", __name__)

OPEN_ENDPOINTS = {"auth.login", "static", "health.healthz"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _secret_key_file(app: Flask) -> str:
    """A per-installation secret kept under the data directory, so every web worker process shares it."""
    path = Path(app.config["SETTINGS"].data_dir) / "web_secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # atomic and refuses to overwrite: of workers starting together, the first wins
            log.warning("SECRET_KEY is not set; generated one in %s (set SECRET_KEY for multi-host deployments)",
                        path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def bearer_token_ok() -> bool:
    token = current_app.config.get("WEB_AUTH_TOKEN")
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())


def is_authenticated() -> bool:
    if not current_app.config.get("WEB_AUTH_TOKEN"):
        return True
    return bearer_token_ok() or session.get("authenticated") is True


def _from_this_machine() -> bool:
    """A loopback peer that is not a reverse proxy forwarding someone else's request."""
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _same_origin_or_none() -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def api_may_skip_csrf() -> bool:
    if bearer_token_ok():
        return True
    return not current_app.config.get("WEB_AUTH_TOKEN") and _from_this_machine() and _same_origin_or_none()


def wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def check_request():
    """Runs before every view: authentication first, then CSRF on state-changing requests."""
    if request.endpoint in OPEN_ENDPOINTS:
        if request.method in UNSAFE_METHODS:
            csrf.protect()
        return None
    if not is_authenticated():
        if wants_json():
            return jsonify(error="authentication required: send 'Authorization: Bearer <WEB_AUTH_TOKEN>'"), 401
        return redirect(url_for("auth.login", next=request.full_path))
    if request.method in UNSAFE_METHODS and not (wants_json() and api_may_skip_csrf()):
        csrf.protect()
    return None


def security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'")
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("index")
    if not current_app.config.get("WEB_AUTH_TOKEN"):
        return redirect(target)
    error = None
    if request.method == "POST":
        given = request.form.get("token", "").encode()
        if hmac.compare_digest(given, current_app.config["WEB_AUTH_TOKEN"].encode()):
            session.clear()
            session["authenticated"] = True
            return redirect(target)
        error = "That token is not right. Use the value of WEB_AUTH_TOKEN the server was started with."
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    session.clear()
    flash("Logged out.")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key_file(app)
    csrf.init_app(app)
    app.before_request(check_request)
    app.after_request(security_headers)
    app.register_blueprint(bp)
    app.jinja_env.globals["auth_required"] = lambda: bool(app.config.get("WEB_AUTH_TOKEN"))
