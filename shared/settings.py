"""The one settings object: read from the environment once, validated, and safe to print.

Every environment lookup of the project (apart from local_openai's own server options) happens here. A bad value
raises `SettingsError` naming the variable, what was wrong and how to fix it. The API key, the secret key and the
web token are left out of `repr`, and URL passwords (redis://:pw@host) are masked, so logging the settings never
leaks a secret.

Variables: REDIS_URL, OPENAI_BASE_URL, OPENAI_API_KEY, TQ_EVAL_CONCURRENCY, TQ_REQUEST_TIMEOUT_S, TQ_MAX_RETRIES,
TQ_POLL_INTERVAL_S, TQ_POLL_MAX_INTERVAL_S, TQ_FINE_TUNE_DEADLINE_S, TQ_VISIBILITY_TIMEOUT_S, TQ_DATA_DIR, FLOWER_URL,
WEB_AUTH_TOKEN, SECRET_KEY, TQ_MAX_UPLOAD_BYTES, TQ_TRUSTED_HOSTS, TQ_SESSION_LIFETIME_S, TQ_LOGIN_RATE_LIMIT,
TQ_MAX_MODELS, TQ_MAX_CLASSES, TQ_MAX_PROMPT_CHARS, TQ_MAX_COLUMNS, TQ_DATASET_QUOTA_BYTES, TQ_REDIS_RETRY_S,
MLFLOW_TRACKING_URI.
An unset or blank variable means the default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TypeVar, overload
from urllib.parse import urlsplit, urlunsplit

from shared.retries import call_bound_s

LOCAL_API_KEY_PLACEHOLDER = "local-no-key-needed"
"""Default `OPENAI_API_KEY`: the local backend ignores keys, and the SDK refuses to start without one."""

VISIBILITY_MARGIN = 4
"""The broker visibility timeout must be at least this many times a request timeout and a poll interval."""

T = TypeVar("T", int, float)
"""A numeric setting's type."""
D = TypeVar("D")
"""Its default's type: the same, or None for a value derived from another setting."""


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable and how to fix it."""


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, repr=False)
class Settings:
    """Runtime configuration. Build it with `load_settings` (or `get_settings` for the process-wide copy)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    openai_base_url: str = "http://127.0.0.1:8100/v1"
    openai_api_key: str = field(default=LOCAL_API_KEY_PLACEHOLDER, repr=False)
    eval_concurrency: int = 4
    request_timeout_s: float = 30.0
    max_retries: int = 3
    poll_interval_s: float = 2.0
    poll_max_interval_s: float = 30.0
    fine_tune_deadline_s: float = 6 * 3600.0
    visibility_timeout_s: float = 300.0
    data_dir: Path = Path("var")
    flower_url: str | None = None
    web_auth_token: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    max_upload_bytes: int = 50 * 1024 * 1024
    # web security: Host allow-list, login sessions, login rate limit
    trusted_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    session_lifetime_s: float = 12 * 3600.0
    login_rate_limit: str = "10 per minute"
    # input caps and dataset quota: what one request may ask for, and how much uploaded data Redis keeps
    max_models: int = 20
    max_classes: int = 50
    max_prompt_chars: int = 20_000
    max_columns: int = 200
    dataset_quota_bytes: int = 1024 * 1024 * 1024
    # faults: Redis outages and task time bounds
    redis_retry_s: float | None = None
    # MLflow logging: where each finished experiment's runs are logged (None: not logged)
    mlflow_tracking_uri: str | None = None

    @property
    def redis_retry_window_s(self) -> float:
        """How long a Redis command keeps being retried across an outage (TQ_REDIS_RETRY_S, default a quarter of
        the visibility timeout: long enough for a restart, short enough for the task to end before Redis hands
        it to another worker)."""
        return self.visibility_timeout_s / VISIBILITY_MARGIN if self.redis_retry_s is None else self.redis_retry_s

    @property
    def uses_local_backend(self) -> bool:
        """True when `OPENAI_BASE_URL` points at this machine (the local_openai server by default)."""
        host = urlsplit(self.openai_base_url).hostname or ""
        return host in {"127.0.0.1", "localhost", "::1"}

    @property
    def api_key_is_placeholder(self) -> bool:
        return self.openai_api_key == LOCAL_API_KEY_PLACEHOLDER

    def public_dict(self) -> dict[str, object]:
        """The settings safe to show: secrets left out, URL passwords masked."""
        shown = {}
        for item in fields(self):
            if not item.repr:
                continue
            value = getattr(self, item.name)
            shown[item.name] = redact_url(value) if item.name.endswith(("_url", "_uri")) and value else value
        return shown

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{name}={value!r}" for name, value in self.public_dict().items()) + ")"


@overload
def _text(environ: Mapping[str, str], name: str, default: str) -> str: ...
@overload
def _text(environ: Mapping[str, str], name: str, default: None) -> str | None: ...
def _text(environ: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip()


def _number(
    environ: Mapping[str, str],
    name: str,
    default: D,
    kind: Callable[[str], T],
    minimum: float,
    unit: str = "",
    default_text: str | None = None,
) -> T | D:
    """`default_text` describes a default that is not a plain value (None: derived from another setting)."""
    raw = _text(environ, name, None)
    if raw is None:
        return default
    shown = default_text or f"{default}{unit}"
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        example = f" such as {name}={default}" if default_text is None else ""
        raise SettingsError(
            f"{name}={raw!r} is not {what}; set it to {what}{example}, or unset it to use the default ({shown})"
        ) from None
    if value < minimum:
        raise SettingsError(
            f"{name}={raw!r} is too small; it must be at least {minimum:g}{unit} (unset it to use the default {shown})"
        )
    return value


@overload
def _url(environ: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...], example: str) -> str: ...
@overload
def _url(
    environ: Mapping[str, str], name: str, default: None, schemes: tuple[str, ...], example: str
) -> str | None: ...
def _url(
    environ: Mapping[str, str], name: str, default: str | None, schemes: tuple[str, ...], example: str
) -> str | None:
    value = _text(environ, name, default)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise SettingsError(
            f"{name}={redact_url(value)!r} is not a valid URL; it must start with "
            f"{' or '.join(s + '://' for s in schemes)} and name a host, e.g. {name}={example}"
        )
    return value


_HOST_NAME = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*")
_RATE_LIMIT = re.compile(r"\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?", re.IGNORECASE)


def _host_names(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """TQ_TRUSTED_HOSTS: comma-separated host names or IP addresses, without ports (ports are not compared); a
    leading dot (`.example.com`) also trusts every subdomain. Blank entries are ignored."""
    if raw is None:
        return default
    names = []
    for entry in (part.strip().lower() for part in raw.split(",")):
        if not entry:
            continue
        address = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
        try:
            names.append(str(ipaddress.ip_address(address)))
            continue
        except ValueError:
            pass
        if not _HOST_NAME.fullmatch(entry):
            raise SettingsError(
                f"TQ_TRUSTED_HOSTS entry {entry!r} is not a host name or IP address; list the names clients use to "
                f"reach the web app, comma-separated and without ports, e.g. "
                f"TQ_TRUSTED_HOSTS=tunequeue.example.com,localhost,127.0.0.1,::1"
            )
        names.append(entry)
    if not names:
        raise SettingsError(
            "TQ_TRUSTED_HOSTS lists no host; name at least one (e.g. localhost), or unset it to "
            f"trust the loopback names ({','.join(default)})"
        )
    return tuple(names)


def _rate_limit(value: str) -> str:
    if not _RATE_LIMIT.fullmatch(value):
        raise SettingsError(
            f"TQ_LOGIN_RATE_LIMIT={value!r} is not a rate; write it as COUNT per [N] UNIT, e.g. "
            f"TQ_LOGIN_RATE_LIMIT=10 per minute or 100/hour (units: second, minute, hour, day)"
        )
    return value


_MLFLOW_DATABASE = re.compile(r"(postgresql|mysql|mssql)(\+\w+)?")


def _mlflow_uri(value: str | None) -> str | None:
    """MLFLOW_TRACKING_URI: a tracking server (http, https, databricks) or a store MLflow opens itself (a sqlite
    file, another SQLAlchemy database, a file:// directory). Checked here so a typo is found at start-up, not
    after the first experiment."""
    if value is None:
        return None
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") or _MLFLOW_DATABASE.fullmatch(scheme):
        ok = bool(parts.hostname)
    elif scheme in ("sqlite", "file"):
        ok = value.startswith(f"{parts.scheme}:///") and len(value) > len(f"{scheme}:///")
    else:
        ok = scheme in ("databricks", "databricks-uc") or value in ("databricks", "databricks-uc")
    if not ok:
        raise SettingsError(
            f"MLFLOW_TRACKING_URI={redact_url(value)!r} is not a tracking URI MLflow can open; use "
            f"a server URL with a host, sqlite:/// and a file path, a database URL or file:/// and "
            f"a directory, e.g. MLFLOW_TRACKING_URI=sqlite:////var/lib/tunequeue/mlflow.db or "
            f"http://mlflow:5000; unset it to log no runs to MLflow"
        )
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from `environ` (default `os.environ`)."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    redis_url = _url(env, "REDIS_URL", defaults.redis_url, ("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0")
    base_url = _url(
        env,
        "OPENAI_BASE_URL",
        defaults.openai_base_url,
        ("http", "https"),
        "http://127.0.0.1:8100/v1 (local backend) or https://api.openai.com/v1",
    )
    settings = Settings(
        redis_url=redis_url,
        openai_base_url=base_url.rstrip("/"),
        openai_api_key=_text(env, "OPENAI_API_KEY", defaults.openai_api_key),
        eval_concurrency=_number(env, "TQ_EVAL_CONCURRENCY", defaults.eval_concurrency, int, 1),
        request_timeout_s=_number(env, "TQ_REQUEST_TIMEOUT_S", defaults.request_timeout_s, float, 0.1, " s"),
        max_retries=_number(env, "TQ_MAX_RETRIES", defaults.max_retries, int, 0),
        poll_interval_s=_number(env, "TQ_POLL_INTERVAL_S", defaults.poll_interval_s, float, 0.05, " s"),
        poll_max_interval_s=_number(env, "TQ_POLL_MAX_INTERVAL_S", defaults.poll_max_interval_s, float, 0.05, " s"),
        fine_tune_deadline_s=_number(env, "TQ_FINE_TUNE_DEADLINE_S", defaults.fine_tune_deadline_s, float, 1, " s"),
        visibility_timeout_s=_number(env, "TQ_VISIBILITY_TIMEOUT_S", defaults.visibility_timeout_s, float, 10, " s"),
        data_dir=Path(_text(env, "TQ_DATA_DIR", str(defaults.data_dir))),
        flower_url=_url(env, "FLOWER_URL", None, ("http", "https"), "http://127.0.0.1:5555"),
        web_auth_token=_text(env, "WEB_AUTH_TOKEN", None),
        secret_key=_text(env, "SECRET_KEY", None),
        max_upload_bytes=_number(env, "TQ_MAX_UPLOAD_BYTES", defaults.max_upload_bytes, int, 1024, " bytes"),
        # web security
        trusted_hosts=_host_names(_text(env, "TQ_TRUSTED_HOSTS", None), defaults.trusted_hosts),
        session_lifetime_s=_number(env, "TQ_SESSION_LIFETIME_S", defaults.session_lifetime_s, float, 60, " s"),
        login_rate_limit=_rate_limit(_text(env, "TQ_LOGIN_RATE_LIMIT", defaults.login_rate_limit)),
        # input caps and dataset quota
        max_models=_number(env, "TQ_MAX_MODELS", defaults.max_models, int, 1),
        max_classes=_number(env, "TQ_MAX_CLASSES", defaults.max_classes, int, 2),
        max_prompt_chars=_number(env, "TQ_MAX_PROMPT_CHARS", defaults.max_prompt_chars, int, 10, " characters"),
        max_columns=_number(env, "TQ_MAX_COLUMNS", defaults.max_columns, int, 2),
        dataset_quota_bytes=_number(env, "TQ_DATASET_QUOTA_BYTES", defaults.dataset_quota_bytes, int, 1024, " bytes"),
        # faults: Redis outages and task time bounds
        redis_retry_s=_number(
            env,
            "TQ_REDIS_RETRY_S",
            defaults.redis_retry_s,
            float,
            0,
            " s",
            default_text="a quarter of TQ_VISIBILITY_TIMEOUT_S",
        ),
        # MLflow logging
        mlflow_tracking_uri=_mlflow_uri(_text(env, "MLFLOW_TRACKING_URI", None)),
    )
    if settings.poll_max_interval_s < settings.poll_interval_s:
        raise SettingsError(
            f"TQ_POLL_MAX_INTERVAL_S ({settings.poll_max_interval_s:g} s) is below TQ_POLL_INTERVAL_S "
            f"({settings.poll_interval_s:g} s); the backoff cap must be at least the first interval: raise "
            f"TQ_POLL_MAX_INTERVAL_S or lower TQ_POLL_INTERVAL_S"
        )
    if settings.fine_tune_deadline_s < settings.poll_max_interval_s:
        raise SettingsError(
            f"TQ_FINE_TUNE_DEADLINE_S ({settings.fine_tune_deadline_s:g} s) is shorter than one poll interval "
            f"(TQ_POLL_MAX_INTERVAL_S={settings.poll_max_interval_s:g} s); raise the deadline"
        )
    _check_visibility_timeout(settings)
    if not settings.uses_local_backend and settings.api_key_is_placeholder:
        raise SettingsError(
            f"OPENAI_BASE_URL={settings.openai_base_url} is a remote provider but OPENAI_API_KEY is not set; "
            f"export OPENAI_API_KEY with your provider's key (it is never logged or stored), or point "
            f"OPENAI_BASE_URL at the local backend"
        )
    return settings


def _check_visibility_timeout(settings: Settings) -> None:
    """Every task must finish well inside the visibility timeout, or Redis hands it to a second worker while the
    first still runs it: one provider request and one poll countdown each take at most a quarter of it, and one
    provider call with all the SDK's retries at most half."""
    limit = settings.visibility_timeout_s / VISIBILITY_MARGIN
    for name, value in (
        ("TQ_REQUEST_TIMEOUT_S", settings.request_timeout_s),
        ("TQ_POLL_MAX_INTERVAL_S", settings.poll_max_interval_s),
        ("TQ_REDIS_RETRY_S", settings.redis_retry_window_s),
    ):
        if value > limit:
            raise SettingsError(
                f"{name} ({value:g} s) is more than a quarter of TQ_VISIBILITY_TIMEOUT_S "
                f"({settings.visibility_timeout_s:g} s), so a task could still be running when Redis gives it to "
                f"another worker: lower {name} to at most {limit:g} s or raise TQ_VISIBILITY_TIMEOUT_S to at least "
                f"{VISIBILITY_MARGIN * value:g} s"
            )
    bound = call_bound_s(settings.request_timeout_s, settings.max_retries)
    if bound > settings.visibility_timeout_s / 2:
        raise SettingsError(
            f"one provider call with all its retries could take {bound:g} s (TQ_MAX_RETRIES={settings.max_retries} "
            f"retries of TQ_REQUEST_TIMEOUT_S={settings.request_timeout_s:g} s, plus the openai SDK's backoff), more "
            f"than half of TQ_VISIBILITY_TIMEOUT_S ({settings.visibility_timeout_s:g} s), so a task could still be "
            f"waiting on it when Redis gives the task to another worker: lower TQ_MAX_RETRIES or "
            f"TQ_REQUEST_TIMEOUT_S, or raise TQ_VISIBILITY_TIMEOUT_S to at least {2 * bound:g} s"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from `os.environ` on first use."""
    return load_settings(os.environ)
