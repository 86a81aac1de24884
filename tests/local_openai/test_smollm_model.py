"""The SmolLM2 base model is state owned by its trainer, not by the module: loaded once on first use, even by
concurrent first requests, shared by that trainer's predictors, and not loaded for another trainer that never
asked. Loads the real model once (about 12 s on 2 cores)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from local_openai.trainers.smollm import SmolLMTrainer


def test_each_trainer_owns_one_base_model_shared_by_its_predictors() -> None:
    first, second = SmolLMTrainer(), SmolLMTrainer()
    with ThreadPoolExecutor(max_workers=3) as pool:
        predictors = list(pool.map(lambda _: first.load(None), range(3)))
    assert all(predictor.base is predictors[0].base for predictor in predictors)
    assert first.base_weights.loaded
    assert not second.base_weights.loaded
