"""The Redis-backed experiment store, one client (and connection pool) per app: `get_store()` + `init_app(app)`."""

from __future__ import annotations

import redis
from flask import Flask, current_app, g

from shared.store import Store

EXTENSION = "tunequeue.redis"


def get_redis() -> redis.Redis:
    client: redis.Redis = current_app.extensions[EXTENSION]
    return client


def get_store() -> Store:
    """The store for this request (cheap: it wraps the app's pooled client)."""
    if "store" not in g:
        g.store = Store(get_redis())
    store: Store = g.store
    return store


def init_app(app: Flask) -> None:
    """Create the app's Redis client; it connects lazily, so the app starts even while Redis is down."""
    settings = app.config["SETTINGS"]
    app.extensions[EXTENSION] = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.request_timeout_s,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
