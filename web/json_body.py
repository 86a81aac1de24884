"""JSON request bodies, parsed in one place for every endpoint: a body that is not JSON, or is nested deeper than
any request of this app needs, is a 400 saying so, never a 500.

Python's JSON parser recurses once per level, so a body of 100,000 `[` raises RecursionError, which
`request.get_json(silent=True)` does not catch; and even nesting the parser survives can recurse again wherever the
value is used. The app's JSON provider turns both into a ValueError, which the request class reports as a 400.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

MAX_JSON_DEPTH = 32
"""Deepest nesting a request body may have; the API's own bodies use three levels."""


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests lists/objects more than `limit` levels deep (checked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class BodyJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with parsing bounded in depth."""

    sort_keys = False
    """Responses keep the order their keys were written in (a record reads top down), not Flask's sorted order."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        too_deep = ValueError(
            f"it is nested more than {MAX_JSON_DEPTH} levels deep; send a flat object as described in /api/openapi.json"
        )
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise too_deep from None
        if nesting_exceeds(value, MAX_JSON_DEPTH):
            raise too_deep
        return value


class BodyRequest(Request):
    """A request whose `get_json()` says what is wrong with a bad body instead of a generic 400."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            return super().on_json_loading_failed(e)
        raise BadRequest(f"The body is not valid JSON: {e}.")


def init_app(app: Flask) -> None:
    """Install the provider; call first, before anything configures `app.json`. (`BodyRequest` is part of the app's
    request class, `web.request.AppRequest`.)"""
    app.json = BodyJSONProvider(app)
