"""Try a local_openai trainer's recipe directly through the trainer (no server), scored on held-out rows.

Recipes are chosen here, on the training rows and a validation sample, never on the test rows: `--score-on
validation` (the default) asks about `--per-class` rows of each class from offset 200 (disjoint from the reference
train rows at offset 0 and test rows at offset 100); `--score-on test` reports the reference test rows for a recipe
already chosen. Each model is asked with the reference evaluation prompt and in the training format.

    nice .venv/bin/python -m bench.recipe --model smollm2-135m-instruct --preset both-phrasings --seed 1 [--epochs N]
    nice .venv/bin/python -m bench.recipe --model local-minilm --per-class 200 --seed 1

Prints the training wall and CPU seconds, tokens, first and last loss, and both accuracies.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from local_openai.trainers import get_trainer
from local_openai.trainers.base import ChatRequest, TrainingContext
from shared.dataset_reading import Item, load_items
from shared.dataset_sampling import reference_sampling, split_items
from shared.metrics import normalize_output
from shared.prompts import PRESETS, evaluation_messages, training_examples

VALIDATION_OFFSET = 200
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "Tweets.csv"


def accuracy(predictor, items: list[Item], labels: list[str], preset_name: str, batch_size: int = 32) -> float:
    outputs: list[str] = []
    for start in range(0, len(items), batch_size):
        requests = [
            ChatRequest(messages=evaluation_messages(PRESETS[preset_name], item.text), temperature=0, max_tokens=10)
            for item in items[start : start + batch_size]
        ]
        outputs.extend(r.text for r in predictor.complete(requests))
    return sum(normalize_output(o, labels) == item.label for o, item in zip(outputs, items, strict=True)) / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="base model (a local_openai trainer)")
    parser.add_argument("--preset", default="both-phrasings", choices=sorted(PRESETS), help="training file's preset")
    parser.add_argument("--epochs", default="auto")
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--lr-mult", default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--score-on", choices=["validation", "test"], default="validation")
    parser.add_argument("--per-class", type=int, help="validation rows per class (default: the test counts)")
    args = parser.parse_args()

    items = load_items(args.data.read_bytes(), "text", "airline_sentiment")
    sampling = reference_sampling(sorted({item.label for item in items}))
    if args.score_on == "validation":
        counts = {label: args.per_class for label in sampling.test_counts} if args.per_class else sampling.test_counts
        sampling = replace(sampling, test_offset=VALIDATION_OFFSET, test_counts=counts)
    split = split_items(items, sampling)
    preset = PRESETS[args.preset]
    examples = [e for item in split.train for e in training_examples(preset, item.text, item.label)]
    trainer = get_trainer(args.model)
    if trainer is None:
        raise SystemExit(f"no trainer for {args.model}")
    requested = {"n_epochs": args.epochs, "batch_size": args.batch_size, "learning_rate_multiplier": args.lr_mult}
    hp = trainer.resolve_hyperparameters(requested, len(examples))
    if trainer.answers_without_fine_tuning:
        trainer.load(None)  # the base model's loading is not training time
    with tempfile.TemporaryDirectory() as tmp:
        losses: list[float] = []
        ctx = TrainingContext(
            output_dir=Path(tmp),
            hyperparameters=hp,
            seed=args.seed,
            report=lambda **m: losses.append(m["train_loss"]),
            log=print,
        )
        started, cpu_started = time.monotonic(), time.process_time()
        result = trainer.train(examples, ctx)
        seconds, cpu_seconds = time.monotonic() - started, time.process_time() - cpu_started
        tuned = trainer.load(Path(tmp))
        scored = {name: accuracy(tuned, split.test, split.labels, name) for name in ("reference", "consistent")}
    print(
        f"{args.model} {args.preset} {hp} seed {args.seed}: train {seconds:.1f} s wall, {cpu_seconds:.0f} s CPU, "
        f"{result.trained_tokens} tokens, loss {losses[0]:.3f} -> {losses[-1]:.3f}; {args.score_on} accuracy "
        f"reference prompt {scored['reference']:.2f}, training format {scored['consistent']:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
