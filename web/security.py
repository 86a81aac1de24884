"""Who may use the app and how requests are checked: trusted hosts, the optional `WEB_AUTH_TOKEN`, login sessions,
CSRF, the login rate limit, response headers.

Only the host names in `TQ_TRUSTED_HOSTS` are served (Flask's `TRUSTED_HOSTS`); any other `Host` gets a 400 before
anything else runs, which is what stops a DNS-rebinding page (its `Host` is its own name) from using the loopback
CSRF exemption below.

With `WEB_AUTH_TOKEN` set, every page and API call needs either `Authorization: Bearer <token>` or a session made
by the login form; `shared.sessions` makes those sessions end on logout, on a token change and after
`TQ_SESSION_LIFETIME_S`. Login attempts are limited per client address (`TQ_LOGIN_RATE_LIMIT`, counted in Redis so
every web process shares the count). Forms always carry a CSRF token (Flask-WTF). The JSON API skips the CSRF token
only when the caller cannot be a cross-site browser request: it authenticated with the bearer token, or no token is
configured and the request comes straight from this machine (a local-only bind: loopback peer, not forwarded by a
proxy) without a foreign `Origin`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from shared.sessions import end_all_sessions, new_session, session_is_valid
from shared.settings import Settings
from web.redirects import safe_redirect_target
from web.store import get_redis

log = logging.getLogger(__name__)
csrf = CSRFProtect()
limiter = Limiter(get_remote_address, headers_enabled=True)
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
            log.warning("SECRET_KEY is not set; generated one in %s (set SECRET_KEY for multi-host deployments)", path)
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
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())


def session_ok() -> bool:
    """A login session made with the current token, not ended by a logout since, and younger than its lifetime."""
    if "authenticated" not in session:
        return False
    return session_is_valid(
        session,
        get_redis(),
        current_app.config["WEB_AUTH_TOKEN"],
        current_app.config["SECRET_KEY"],
        current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds(),
        time.time(),
    )


def is_authenticated() -> bool:
    if not current_app.config.get("WEB_AUTH_TOKEN"):
        return True
    return bearer_token_ok() or session_ok()


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
    """JSON for the API and for `/healthz` (probes and scripts read them), HTML for pages."""
    return request.blueprint in ("api", "health") or request.path.startswith("/api/") or request.path == "/healthz"


def check_request() -> ResponseReturnValue | None:
    """Runs before every view: authentication first, then CSRF on state-changing requests.

    A request that matched no route (404, 405, or a `Host` not trusted) changes nothing, so its error is raised
    straight away, with its own status and headers, rather than as a login redirect or a CSRF failure.
    """
    if request.routing_exception is not None:
        raise request.routing_exception
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


def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'"
    )
    return response


def login_rate_limit() -> str:
    settings: Settings = current_app.config["SETTINGS"]
    return settings.login_rate_limit


def too_many_logins() -> str:
    return (
        f"Too many login attempts from this address (the limit is {login_rate_limit()}). Wait until the time "
        f"in the Retry-After header has passed, then try again with the value of WEB_AUTH_TOKEN."
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_rate_limit, methods=["POST"], error_message=too_many_logins)
def login() -> ResponseReturnValue:
    target = safe_redirect_target(request.args.get("next"), url_for("index"))
    token = current_app.config.get("WEB_AUTH_TOKEN")
    if not token:
        return redirect(target)
    error = None
    if request.method == "POST":
        given = request.form.get("token", "").encode()
        if hmac.compare_digest(given, token.encode()):
            session.clear()
            session.update(new_session(get_redis(), token, current_app.config["SECRET_KEY"], time.time()))
            session.permanent = True
            return redirect(target)
        error = "That token is not right. Use the value of WEB_AUTH_TOKEN the server was started with."
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Ends every login session (they all share the one token), including copies of this session's cookie."""
    end_all_sessions(get_redis())
    session.clear()
    flash("Logged out. Every login session has ended; log in again with WEB_AUTH_TOKEN.")
    return redirect(url_for("auth.login"))


class TrustedHostRequest(Request):
    """Werkzeug (3.1) compares `TRUSTED_HOSTS` entries up to their first `:`, so it can never match a bracketed
    IPv6 host such as `[::1]:5000`. A request whose `Host` is an IPv6 address listed in `TRUSTED_HOSTS` is let
    through here (Werkzeug still validates its syntax and port); every other host is left to Werkzeug's check."""

    _trusted: list[str] | None = None

    @property
    def trusted_hosts(self) -> list[str] | None:
        host = self.headers.get("Host", "")
        if self._trusted and host.startswith("[") and "]" in host:
            try:
                if str(ipaddress.ip_address(host[1 : host.index("]")])) in self._trusted:
                    return None
            except ValueError:
                pass
        return self._trusted

    @trusted_hosts.setter
    def trusted_hosts(self, value: list[str] | None) -> None:
        self._trusted = value


def init_app(app: Flask) -> None:
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key_file(app)
    csrf.init_app(app)
    app.before_request(check_request)
    limiter.init_app(app)
    app.after_request(security_headers)
    app.register_blueprint(bp)
    app.jinja_env.globals["auth_required"] = lambda: bool(app.config.get("WEB_AUTH_TOKEN"))
