"""The API's JSON body flattened into the new-experiment form's field names, so one parser serves both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from shared.records import HYPERPARAMETER_FIELDS

PROMPT_KEYS = ("preset", "system_prompt", "user_template")
SAMPLING_KEYS = (
    ("mode", "sampling_mode"),
    ("train_offset", "train_offset"),
    ("test_offset", "test_offset"),
    ("seed", "sampling_seed"),
    ("validation_count", "validation_count"),
)


class BodyError(ValueError):
    """The JSON body has the wrong shape; the message says which key and what it should be."""


def _object(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key) or {}
    if not isinstance(value, Mapping):
        raise BodyError(f"'{key}' must be a JSON object, e.g. {{\"{key}\": {{...}}}}.")
    return value


def _names(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise BodyError(f'\'{key}\' must be a list of model names, e.g. {{"{key}": ["local-tfidf"]}}.')
    return [str(name) for name in value]


def json_to_fields(body: Mapping[str, Any]) -> MultiDict[str, str]:
    """Top-level `text_column`, `label_column`, `models`, `zero_shot`; prompt keys at the top level or under
    `prompt`; `validation_count` at the top level or under `sampling`; `sampling` and `hyperparameters` objects."""
    fields: MultiDict[str, str] = MultiDict()
    prompt = {**_object(body, "prompt"), **{key: body[key] for key in PROMPT_KEYS if key in body}}
    for key in ("text_column", "label_column"):
        if body.get(key) is not None:
            fields.add(key, str(body[key]))
    for key in PROMPT_KEYS:
        if prompt.get(key) is not None:
            fields.add(key, str(prompt[key]))
    for key in ("models", "zero_shot"):
        for name in _names(body, key):
            fields.add(key, name)
    sampling = {
        **_object(body, "sampling"),
        **({"validation_count": body["validation_count"]} if "validation_count" in body else {}),
    }
    for key, name in SAMPLING_KEYS:
        if sampling.get(key) is not None:
            fields.add(name, str(sampling[key]))
    for side in ("train", "test"):
        for label, count in _object(sampling, f"{side}_counts").items():
            fields.add(f"{side}_count:{label}", str(count))
    hyperparameters = _object(body, "hyperparameters")
    for key, name in HYPERPARAMETER_FIELDS.items():
        if hyperparameters.get(key) is not None:
            fields.add(name, str(hyperparameters[key]))
    return fields
