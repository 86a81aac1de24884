"""What a fine-tuning job may ask for: the hyperparameters and seed OpenAI accepts, checked at job creation.

Hyperparameters come in OpenAI's current shape, `method={"type": "supervised", "supervised": {"hyperparameters":
{...}}}`, or in the deprecated top-level `hyperparameters`; `requested_hyperparameters` reads either.

Ranges follow OpenAI's API reference (n_epochs 1-50, batch_size 1-256, seed 0 to 2^31-1). OpenAI documents no upper
bound for learning_rate_multiplier; this server caps it at MAX_LEARNING_RATE_MULTIPLIER, far above any useful value
(the trainers' base learning rates are tuned for 1.0), so a typo cannot start a job that only diverges.
"""

from __future__ import annotations

from dataclasses import fields

from local_openai.api.json_body import is_integer, is_number
from local_openai.errors import InvalidRequest
from local_openai.trainers.base import Hyperparameters

NAMES = tuple(field.name for field in fields(Hyperparameters))
INTEGER_RANGES = {"n_epochs": (1, 50), "batch_size": (1, 256)}
MAX_LEARNING_RATE_MULTIPLIER = 10.0
SEED_RANGE = (0, 2**31 - 1)


def _checked(name: str, value: object, param: str) -> int | float | str:
    if value in ("auto", None):
        return "auto"
    if name in INTEGER_RANGES:
        lowest, highest = INTEGER_RANGES[name]
        if is_number(value) and float(value).is_integer() and lowest <= value <= highest:
            return int(value)
        expected = f"'auto' or an integer from {lowest} to {highest}"
    else:
        if is_number(value) and 0 < value <= MAX_LEARNING_RATE_MULTIPLIER:
            return float(value)
        expected = f"'auto' or a number above 0 and at most {MAX_LEARNING_RATE_MULTIPLIER:g}"
    raise InvalidRequest(f"Invalid '{param}': {value!r}; use {expected}", param=param, code="invalid_value")


def checked_hyperparameters(requested: object, prefix: str) -> dict[str, int | float | str]:
    """`requested` (the body's hyperparameters object) with every value checked; missing ones are "auto".

    `prefix` is where the object sat in the request ("hyperparameters" or "method.supervised.hyperparameters"), so
    an error's `param` names the field the client actually sent."""
    if requested is None:
        requested = {}
    if not isinstance(requested, dict):
        raise InvalidRequest(f"'{prefix}' must be an object", param=prefix, code="invalid_type")
    for name in requested:
        if name not in NAMES:
            raise InvalidRequest(
                f"Unknown hyperparameter {name!r}; use {', '.join(NAMES)}",
                param=f"{prefix}.{name}",
                code="invalid_value",
            )
    return {name: _checked(name, requested.get(name), f"{prefix}.{name}") for name in NAMES}


def requested_hyperparameters(body: dict[str, object]) -> dict[str, int | float | str]:
    """The checked hyperparameters of a job creation body: `method.supervised.hyperparameters` when given, else the
    deprecated top-level `hyperparameters`; an error's `param` names the one the client sent."""
    method = body.get("method")
    if method is None:
        return checked_hyperparameters(body.get("hyperparameters"), "hyperparameters")
    if not isinstance(method, dict) or method.get("type", "supervised") != "supervised":
        raise InvalidRequest(
            "Only method.type 'supervised' is supported by this server", param="method.type", code="invalid_value"
        )
    supervised = method.get("supervised") or {}
    if not isinstance(supervised, dict):
        raise InvalidRequest("'method.supervised' must be an object", param="method.supervised", code="invalid_type")
    if supervised.get("hyperparameters") is None:
        return checked_hyperparameters(body.get("hyperparameters"), "hyperparameters")
    return checked_hyperparameters(supervised["hyperparameters"], "method.supervised.hyperparameters")


def checked_seed(value: object) -> int | None:
    lowest, highest = SEED_RANGE
    if value is None:
        return None
    if is_integer(value) and lowest <= value <= highest:
        return value
    raise InvalidRequest(
        f"Invalid 'seed': {value!r}; use an integer from {lowest} to {highest}", param="seed", code="invalid_value"
    )
