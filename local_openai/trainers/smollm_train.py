"""The SmolLM2 supervised fine-tuning loop: assistant-token loss, per-step metrics, a checkpoint per epoch."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from local_openai.trainers.base import ClientError, TrainingCancelled, TrainingContext, TrainResult
from local_openai.trainers.libraries import load
from local_openai.trainers.smollm_data import IGNORE, Example

log = logging.getLogger(__name__)

LORA_RANK = 16
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _batch_tensors(batch: Sequence[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(e.input_ids) for e in batch)
    ids = torch.tensor([e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in batch])
    labels = torch.tensor([e.labels + [IGNORE] * (width - len(e.labels)) for e in batch])
    mask = torch.tensor([[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch])
    return ids, labels, mask


def _loss(causal_lm, batch: Sequence[Example], pad_id: int) -> tuple[torch.Tensor, int, int]:
    """Mean cross-entropy over the target tokens, the number of correct argmax predictions, and the target count.

    Only target positions go through the (49k-wide) output layer: most of a classification example is prompt.
    """
    ids, labels, mask = _batch_tensors(batch, pad_id)
    hidden = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    selected = targets != IGNORE
    logits = causal_lm.lm_head(hidden[selected])
    wanted = targets[selected]
    loss = torch.nn.functional.cross_entropy(logits.float(), wanted)
    correct = int((logits.argmax(dim=-1) == wanted).sum())
    return loss, correct, int(wanted.numel())


def _validation_loss(causal_lm, examples: Sequence[Example], batch_size: int, pad_id: int) -> float:
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            loss, _, n = _loss(causal_lm, examples[start : start + batch_size], pad_id)
            total += float(loss) * n
            count += n
    return total / max(1, count)


def run_training(
    model,
    train: Sequence[Example],
    validation: Sequence[Example],
    ctx: TrainingContext,
    method: str,
    learning_rate: float,
    pad_id: int,
    save: Callable[[object, Path], None],
) -> TrainResult:
    """Train `model` (a fresh copy of the base) in place; `save(model, directory)` writes a loadable model."""
    if not train:
        raise ClientError(
            "no assistant message to learn from: every example has weight 0 on all assistant messages",
            code="invalid_training_file",
            param="training_file",
        )
    hp = ctx.hyperparameters
    torch.manual_seed(ctx.seed)
    if method == "lora":
        LoraConfig, get_peft_model = load("peft", "LoraConfig", "get_peft_model")

        model = get_peft_model(
            model,
            LoraConfig(
                r=LORA_RANK,
                lora_alpha=2 * LORA_RANK,
                lora_dropout=0.0,
                target_modules=LORA_TARGETS,
                task_type="CAUSAL_LM",
            ),
        )
        causal_lm = model.get_base_model()
    else:
        causal_lm = model
        causal_lm.model.embed_tokens.weight.requires_grad_(False)  # tied with the output layer; 100s of examples
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train) / hp.batch_size)
    total_steps = steps_per_epoch * hp.n_epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / total_steps)
    order_rng = torch.Generator().manual_seed(ctx.seed)
    ctx.log(
        f"SmolLM2 {method} fine-tuning: {len(train)} examples, {hp.n_epochs} epochs of {steps_per_epoch} steps, "
        f"batch {hp.batch_size}, learning rate {learning_rate:g}, {sum(p.numel() for p in params):,} trainable weights"
    )
    started = time.monotonic()
    step = 0
    trained_tokens = 0
    metrics: dict[str, float] = {}
    for epoch in range(1, hp.n_epochs + 1):
        order = torch.randperm(len(train), generator=order_rng).tolist()
        for start in range(0, len(order), hp.batch_size):
            if ctx.should_stop():
                raise TrainingCancelled(f"cancelled at step {step} of {total_steps}")
            batch = [train[i] for i in order[start : start + hp.batch_size]]
            model.train()
            loss, correct, n_targets = _loss(causal_lm, batch, pad_id)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            trained_tokens += sum(len(e.input_ids) for e in batch)
            metrics = {"train_loss": loss.item(), "train_accuracy": correct / max(1, n_targets)}
            if validation and start + hp.batch_size >= len(order):
                model.eval()
                metrics["valid_loss"] = _validation_loss(causal_lm, validation, hp.batch_size, pad_id)
            ctx.report(step=step, total_steps=total_steps, **metrics)
        model.eval()
        directory = ctx.output_dir / f"checkpoint-epoch-{epoch}"
        save(model, directory)
        ctx.checkpoint(epoch, step, directory)
        log.info("epoch %d/%d done at step %d, %.0f s", epoch, hp.n_epochs, step, time.monotonic() - started)
    save(model, ctx.output_dir)
    ctx.log(f"SmolLM2 fine-tuning finished in {time.monotonic() - started:.0f} s")
    return TrainResult(trained_tokens=trained_tokens, final_metrics=metrics)
