"""SmolLM2-135M-Instruct: a real chat model that answers zero-shot and learns by supervised fine-tuning.

The trainer ties the parts together: `smollm_model` (the base model and trained model directories), `smollm_generate`
(answering chats), `smollm_data` (conversations to token ids and labels) and `smollm_train` (the training loop).
Each trainer owns one `BaseModelSlot`: every predictor and training run of that trainer shares its one base model.

Recipe: LoRA (rank 16, alpha 32, every linear layer of the decoder), learning rate 1e-3 x multiplier, "auto" =
3 epochs for 100 examples (about 300 example passes), batch 8; loss on assistant tokens only (answer text plus the
end-of-turn token, so the model learns to stop; `weight: 0` messages are context), AdamW with a linear decay, data
order and LoRA init from the job's seed. A checkpoint per epoch, the final model in the job's output directory.
LoRA beat full fine-tuning on accuracy and time per step on the reference split (the measured table is in the README;
`bench/recipe.py` compares recipes on validation rows); `method="full"` remains for measuring that comparison (it
saves bf16 weights, 270 MB per checkpoint, loaded back as a separate fp32 model).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from pathlib import Path

from local_openai.trainers.base import (
    Hyperparameters,
    Message,
    TrainingContext,
    TrainResult,
    requested_or_auto,
)
from local_openai.trainers.smollm_data import IGNORE, Example, encode_conversation
from local_openai.trainers.smollm_generate import SmolLMPredictor
from local_openai.trainers.smollm_model import BASE_MODEL, METHODS, BaseModelSlot, CausalLM, save_model, saved_method

MAX_TRAIN_TOKENS = 512  # longer conversations keep their last tokens (the answer is at the end)
AUTO_BATCH_SIZE = 8
AUTO_EPOCHS_TOKEN_BUDGET = 300  # "auto" epochs aim at about this many example passes: 3 epochs for 100 examples
BASE_LEARNING_RATE = {"lora": 1e-3, "full": 5e-5}


class SmolLMTrainer:
    base_model = BASE_MODEL
    description = "SmolLM2-135M-Instruct chat model (Apache-2.0), LoRA supervised fine-tuning on CPU"
    answers_without_fine_tuning = True

    def __init__(self, cache_dir: Path | None = None, method: str = "lora", max_train_tokens: int = MAX_TRAIN_TOKENS):
        """`cache_dir` keeps de-quantised fp32 base weights (540 MB) for a fast load; `method` is "lora" or "full"."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        self.method = method
        self.max_train_tokens = max_train_tokens
        self.base_weights = BaseModelSlot(Path(cache_dir) if cache_dir is not None else None)

    def resolve_hyperparameters(self, requested: dict[str, object], n_examples: int) -> Hyperparameters:
        batch_size = int(requested_or_auto(requested, "batch_size", max(1, min(AUTO_BATCH_SIZE, n_examples))))
        auto_epochs = max(1, min(10, math.ceil(AUTO_EPOCHS_TOKEN_BUDGET / max(1, n_examples))))
        n_epochs = int(requested_or_auto(requested, "n_epochs", auto_epochs))
        multiplier = float(requested_or_auto(requested, "learning_rate_multiplier", 1.0))
        if batch_size < 1 or n_epochs < 1 or multiplier <= 0:
            raise ValueError("batch_size and n_epochs must be >= 1 and learning_rate_multiplier > 0")
        return Hyperparameters(n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=multiplier)

    def load(self, model_dir: Path | None) -> SmolLMPredictor:
        base = self.base_weights.get()
        if model_dir is None:
            return SmolLMPredictor(base, None)
        model_dir = Path(model_dir)
        if saved_method(model_dir) == "full":
            return SmolLMPredictor(base, None, base.load_full(model_dir))
        name = base.add_adapter(model_dir)  # one adapter per predictor, dropped when it is collected
        predictor = SmolLMPredictor(base, name)
        weakref.finalize(predictor, base.drop_adapter, name)
        return predictor

    def train(self, examples: Sequence[Sequence[Message]], ctx: TrainingContext) -> TrainResult:
        from local_openai.trainers.smollm_train import run_training

        base = self.base_weights.get()
        encoded = [encode_conversation(base.tokenizer, c, self.max_train_tokens) for c in examples]
        validation = [encode_conversation(base.tokenizer, c, self.max_train_tokens) for c in ctx.validation_examples]
        return run_training(
            base.fresh_copy(),
            _trainable(encoded),
            _trainable(validation),
            ctx,
            self.method,
            BASE_LEARNING_RATE[self.method] * ctx.hyperparameters.learning_rate_multiplier,
            pad_id=base.tokenizer.pad_token_id,
            save=self._save,
        )

    def _save(self, model: CausalLM, directory: Path) -> None:
        save_model(model, directory, self.method)


def _trainable(examples: list[Example]) -> list[Example]:
    return [e for e in examples if any(label != IGNORE for label in e.labels)]
