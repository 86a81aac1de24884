"""Reading a JSON request body: bounded in size (while it is read), in nesting, and always a JSON object; and the
checks of a JSON value's type that every request parser shares (`is_number`, `is_integer`).

Bodies arrive from anyone who can reach the server, so a malformed one must cost little and answer a 400, never a
500: Python's parser raises RecursionError (not ValueError) on deep nesting, and code walking a parsed value would
recurse as deep, so nesting is checked right after parsing, without recursion.
"""

from __future__ import annotations

import json
import math
from typing import TypeGuard

from flask import request

from local_openai.errors import InvalidRequest

# Real OpenAI requests nest a few levels (messages -> content parts -> part); JSON schemas of tools a few more.
MAX_DEPTH = 64


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (`true`/`false` are not numbers, though Python's bool is an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: object) -> TypeGuard[int]:
    """A JSON integer literal (not `true`/`false`, not `2.0`)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _too_deep(value: object, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            stack.extend((child, depth + 1) for child in current.values())
        elif isinstance(current, list):
            stack.extend((child, depth + 1) for child in current)
    return False


def json_object() -> dict:
    """The body as a dict; 413 when larger than the request's max_content_length, 400 for anything but an object."""
    data = request.get_data(cache=True)  # raises RequestEntityTooLarge past request.max_content_length
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidRequest(
            "We could not parse the JSON body of your request: send a valid JSON object", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object", code="invalid_json")
    if _too_deep(body, MAX_DEPTH):
        raise InvalidRequest(f"The request body is nested more than {MAX_DEPTH} levels deep", code="invalid_json")
    return body
