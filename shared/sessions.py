"""Server-side control over the web app's login sessions.

A login session lives in a signed cookie, so the server cannot delete it: a copy made before logout would stay
valid. Three facts stored in the session make it revocable and bounded:

- the session generation, a counter in Redis (`GENERATION_KEY`) that logout increments: every session made before
  then stops working, everywhere (all sessions share the one `WEB_AUTH_TOKEN`, so there is nothing narrower to end);
- a fingerprint of the `WEB_AUTH_TOKEN` the session was made with (an HMAC under the secret key, so the cookie does
  not carry a digest of the token to guess against): restarting with a new token ends every session;
- the login time: a session ends `TQ_SESSION_LIFETIME_S` after login, however often it is used.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import redis

GENERATION_KEY = "tq:web:session_generation"


def token_fingerprint(token: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def current_generation(client: redis.Redis) -> int:
    return int(client.get(GENERATION_KEY) or 0)


def end_all_sessions(client: redis.Redis) -> int:
    """Revoke every session made so far; returns the new generation."""
    return int(client.incr(GENERATION_KEY))


def new_session(client: redis.Redis, token: str, secret_key: str, now: float) -> dict[str, Any]:
    """The fields a fresh login stores in the session."""
    return {
        "authenticated": True,
        "generation": current_generation(client),
        "token": token_fingerprint(token, secret_key),
        "authenticated_at": now,
    }


def session_is_valid(
    fields: Mapping[str, Any], client: redis.Redis, token: str, secret_key: str, lifetime_s: float, now: float
) -> bool:
    """True for a session made by `new_session` with this token, not revoked since and not older than `lifetime_s`."""
    if fields.get("authenticated") is not True:
        return False
    made_at = fields.get("authenticated_at")
    if not isinstance(made_at, (int, float)) or not 0 <= now - made_at <= lifetime_s:
        return False
    if not hmac.compare_digest(str(fields.get("token", "")), token_fingerprint(token, secret_key)):
        return False
    return fields.get("generation") == current_generation(client)
