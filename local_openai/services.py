"""The per-app singletons (storage, job runner, model cache) and how a model id turns into a predictor."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from local_openai.config import ServerConfig
from local_openai.errors import InvalidRequest, model_not_found
from local_openai.runner import JobRunner
from local_openai.serving import ModelCache
from local_openai.storage import Storage
from local_openai.trainers import available_base_models, get_trainer


@dataclass
class Services:
    config: ServerConfig
    storage: Storage
    runner: JobRunner
    models: ModelCache

    def loader(self, model_id: str):
        """A zero-argument function loading `model_id`'s predictor; 404/400 in OpenAI's shape when it cannot answer."""
        record = self.storage.models.get(model_id)
        if record is not None:
            owner = get_trainer(record["base_model"])
            if owner is None:
                raise InvalidRequest(
                    f"The base model {record['base_model']} of {model_id} is not available on this server",
                    param="model",
                    code="model_not_available",
                )
            path = self.storage.model_path(model_id)
            return lambda: owner.load(path)
        base = get_trainer(model_id) if model_id in available_base_models() else None
        if base is not None:
            if not base.answers_without_fine_tuning:
                raise InvalidRequest(
                    f"The model `{model_id}` is a classifier base model and cannot answer before fine-tuning. "
                    f"Create a fine-tuning job with model={model_id!r} and use its fine_tuned_model.",
                    param="model",
                    code="model_not_supported",
                )
            return lambda: base.load(None)
        raise model_not_found(model_id)


def get_services() -> Services:
    return current_app.extensions["local_openai"]


def create_services(config: ServerConfig) -> Services:
    storage = Storage(config.data_dir, config.jsonl_limits())
    models = ModelCache(
        config.max_loaded_models,
        config.batch_window_ms / 1000.0,
        config.max_batch_size,
        config.batch_max_wait_ms / 1000.0,
    )
    return Services(
        config=config,
        storage=storage,
        runner=JobRunner(
            storage, config.concurrent_jobs, keep_checkpoints=config.keep_checkpoints, on_model_deleted=models.unload
        ),
        models=models,
    )
