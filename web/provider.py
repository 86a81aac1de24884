"""The base models the provider offers (`GET /v1/models` through the openai SDK), for the form's model pickers."""

from __future__ import annotations

import logging
import time

import openai
from flask import current_app

from shared.provider import make_client
from shared.settings import Settings

log = logging.getLogger(__name__)
CACHE_SECONDS = 30.0
FAILURE_CACHE_SECONDS = 10.0
_cache: dict[str, tuple[float, list[str], str | None]] = {}


def available_models() -> tuple[list[str], str | None]:
    """(model ids, None), or ([], a message saying why the list is unavailable); cached briefly per provider."""
    settings: Settings = current_app.config["SETTINGS"]
    cached = _cache.get(settings.openai_base_url)
    if cached and time.monotonic() - cached[0] < (FAILURE_CACHE_SECONDS if cached[2] else CACHE_SECONDS):
        return cached[1], cached[2]
    try:
        models = sorted(model.id for model in make_client(settings, max_retries=0, timeout_s=10.0).models.list())
        error = None
    except openai.OpenAIError as exc:
        log.warning("listing models at %s failed: %s", settings.openai_base_url, exc)
        models, error = (
            [],
            (
                f"Could not list models at {settings.openai_base_url} ({type(exc).__name__}). "
                f"Type model names below, or start the provider and reload."
            ),
        )
    _cache[settings.openai_base_url] = (time.monotonic(), models, error)
    return models, error
