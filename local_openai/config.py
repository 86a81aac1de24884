"""Every server option, declared once with its default, help text and `LOCAL_OPENAI_*` environment override.

Precedence: defaults, then environment, then command-line flags (or a test's overrides).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from shared.jsonl import DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_MESSAGES, JsonlLimits


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8100
    data_dir: Path = Path("var/local_openai")
    # When set, every /v1 request must carry `Authorization: Bearer <api_key>`. Never logged. Required off loopback.
    api_key: str | None = None
    max_loaded_models: int = 4
    batch_window_ms: float = 5.0
    batch_max_wait_ms: float = 100.0
    max_batch_size: int = 64
    threads: int = 48
    concurrent_jobs: int = 1
    max_request_bytes: int = 1024 * 1024
    max_messages: int = 1024
    max_message_chars: int = 100_000
    keep_checkpoints: int = 3
    generation_time_limit_s: float = 60.0

    # Training-file validation (shared.jsonl): what one example may hold, so validation runs in bounded memory.
    max_training_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_training_messages: int = DEFAULT_MAX_MESSAGES

    def jsonl_limits(self) -> JsonlLimits:
        return JsonlLimits(max_line_bytes=self.max_training_line_bytes, max_messages=self.max_training_messages)


HELP = {
    "host": "interface to bind",
    "port": "TCP port (0 picks a free one; the bound URL is printed on stdout)",
    "data_dir": "where files, jobs, events and trained models are kept",
    "api_key": "bearer key clients must send (env LOCAL_OPENAI_API_KEY); unset means no authentication, allowed "
    "only on a loopback --host",
    "max_loaded_models": "how many models stay loaded in memory (least recently used is unloaded first)",
    "batch_window_ms": "how long a model's batcher waits for one more concurrent chat request to add to its batch",
    "batch_max_wait_ms": "longest a model's batcher waits to gather as many chat requests as its previous batch had",
    "max_batch_size": "largest batch of chat requests answered in one model call",
    "threads": "HTTP worker threads",
    "concurrent_jobs": "fine-tuning jobs trained at the same time",
    "max_training_line_bytes": "largest line (one example) of a training or validation file, in bytes; a longer "
    "line fails the job's validation without being read into memory",
    "max_training_messages": "most messages in one training example; more fail the job's validation",
    "max_request_bytes": "largest request body of the JSON endpoints (413 above it; file uploads have their own limit)",
    "max_messages": "most messages one chat completion request may carry",
    "max_message_chars": "most characters of text in one chat message",
    "keep_checkpoints": "checkpoints kept per job, the newest ones (OpenAI keeps 3); older ones' files are deleted",
    "generation_time_limit_s": "longest one batched text generation may run; answers cut short end with "
    "finish_reason 'length'",
}


def _convert(name: str, raw: str) -> object:
    kind = {f.name: f.type for f in fields(ServerConfig)}[name]
    if "Path" in str(kind):
        return Path(raw)
    if "int" in str(kind) and "str" not in str(kind):
        return int(raw)
    if "float" in str(kind):
        return float(raw)
    return raw or None


def _converter(name: str) -> Callable[[str], object]:
    """The argparse `type` of option `name`: its raw value converted like its environment variable's."""

    def convert(raw: str) -> object:
        return _convert(name, raw)

    return convert


def config_from_env(environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Defaults overridden by `LOCAL_OPENAI_<NAME>` variables, e.g. LOCAL_OPENAI_API_KEY, LOCAL_OPENAI_PORT."""
    environ = os.environ if environ is None else environ
    overrides: dict[str, Any] = {}  # each value converted to its field's type by _convert
    for f in fields(ServerConfig):
        key = f"LOCAL_OPENAI_{f.name.upper()}"
        if key in environ:
            try:
                overrides[f.name] = _convert(f.name, environ[key])
            except ValueError:
                raise SystemExit(f"{key}={environ[key]!r} is not a valid {f.type}; fix or unset it") from None
    return validate(replace(ServerConfig(), **overrides))


def validate(config: ServerConfig) -> ServerConfig:
    if not 0 <= config.port <= 65535:
        raise SystemExit(f"port {config.port} is out of range 0-65535")
    for name in (
        "max_loaded_models",
        "max_batch_size",
        "threads",
        "concurrent_jobs",
        "max_training_line_bytes",
        "max_training_messages",
        "max_request_bytes",
        "max_messages",
        "max_message_chars",
        "keep_checkpoints",
    ):
        if getattr(config, name) < 1:
            raise SystemExit(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.generation_time_limit_s <= 0:
        raise SystemExit("generation_time_limit_s must be above 0")
    if config.batch_window_ms < 0:
        raise SystemExit("batch_window_ms must not be negative")
    if config.batch_max_wait_ms < config.batch_window_ms:
        raise SystemExit("batch_max_wait_ms must be at least batch_window_ms")
    if not config.api_key and not is_loopback(config.host):
        raise SystemExit(
            f"refusing to listen on {config.host} without an API key: anyone who can reach that address could use "
            "and delete every file, job and model. Set LOCAL_OPENAI_API_KEY to a long random string (clients send it "
            "as 'Authorization: Bearer <key>'), or bind a loopback address such as --host 127.0.0.1"
        )
    return config


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or `localhost`; any other name may resolve to a reachable interface."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> ServerConfig:
    base = config_from_env(environ)
    parser = argparse.ArgumentParser(
        prog="python -m local_openai", description="OpenAI-compatible offline fine-tuning server"
    )
    for f in fields(ServerConfig):
        if f.name == "api_key":
            continue  # secrets come from the environment only, never from the command line (it shows in `ps`)
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=_converter(f.name),
            default=getattr(base, f.name),
            help=f"{HELP[f.name]} (env LOCAL_OPENAI_{f.name.upper()}, default %(default)s)",
        )
    return validate(replace(base, **vars(parser.parse_args(argv))))
