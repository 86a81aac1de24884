"""OpenAI's cursor pages: `{"object": "list", "data": [...], "has_more": bool, "first_id", "last_id"}`, continued
with `after=<last id>`."""

from __future__ import annotations

from collections.abc import Sequence

from flask import request

from local_openai.errors import InvalidRequest


def int_arg(name: str, default: int, lowest: int, highest: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(
            f"Invalid '{name}': expected an integer, got {raw!r}", param=name, code="invalid_value"
        ) from None
    if not lowest <= value <= highest:
        raise InvalidRequest(
            f"Invalid '{name}': {value} is not between {lowest} and {highest}", param=name, code="invalid_value"
        )
    return value


def cursor_page(items: Sequence[dict], default_limit: int, max_limit: int = 100) -> dict:
    """`items` already in page order; `after` must name one of them (an unknown cursor is a 400, not an empty page)."""
    limit = int_arg("limit", default_limit, 1, max_limit)
    after = request.args.get("after")
    start = 0
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise InvalidRequest(
                f"Invalid 'after': no object with id {after!r} in this list", param="after", code="invalid_value"
            )
        start = ids.index(after) + 1
    page = list(items[start : start + limit])
    result = {"object": "list", "data": page, "has_more": start + limit < len(items)}
    if page:  # omitted on an empty page: OpenAI's schema types both as strings, not null
        result.update(first_id=page[0]["id"], last_id=page[-1]["id"])
    return result
