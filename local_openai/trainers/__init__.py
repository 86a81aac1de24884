"""Base model name -> trainer. `/v1/models` lists exactly these base models, in this order."""

from __future__ import annotations

import importlib
import logging
from functools import cache

from local_openai.trainers.base import Trainer

log = logging.getLogger(__name__)

# name -> "module:Class"; imported lazily so the server starts fast and a backend with a missing dependency
# (or not written yet) is left out instead of breaking the others.
TRAINERS = {
    "local-tfidf": "local_openai.trainers.tfidf:TfidfTrainer",
    "local-minilm": "local_openai.trainers.minilm:MiniLMTrainer",
    "smollm2-135m-instruct": "local_openai.trainers.smollm:SmolLMTrainer",
}


@cache
def get_trainer(base_model: str) -> Trainer | None:
    target = TRAINERS.get(base_model)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)()
    except (ImportError, AttributeError) as exc:
        log.warning("base model %s is unavailable: %s", base_model, exc)
        return None


def available_base_models() -> list[str]:
    return [name for name in TRAINERS if get_trainer(name) is not None]
