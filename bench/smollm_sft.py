"""Measure SmolLM2-135M-Instruct zero-shot and fine-tuned on the reference split, directly through the trainer.

Usage: nice .venv/bin/python -m bench.smollm_sft [--method lora|full] [--epochs N] [--batch-size N] [--lr-mult X]
       [--seed N] [--cache-dir DIR] [--zero-shot] [--csv ../shared/data/Tweets.csv]

Prints load seconds, zero-shot accuracy (with --zero-shot), training seconds, and fine-tuned accuracy asked with the
reference evaluation prompt and in the training format, plus completions per second. No server involved.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from local_openai.trainers.base import ChatRequest, TrainingContext
from local_openai.trainers.smollm import SmolLMTrainer

LABELS = ("negative", "neutral", "positive")
SYSTEM = (
    "You are a Twitter sentiment analysis expert who can predict sentiment expressed in the tweets about an airline. "
    "You select sentiment value from positive, negative, or neutral."
)
EVAL_TEMPLATE = (
    "What is the sentiment expressed in the following tweet about an airline?\n"
    "            Select sentiment value from positive, negative, or neutral. Return only the sentiment value in small "
    "letters.\n            tweet: {text}"
)
COUNTS = {"neutral": 34, "positive": 33, "negative": 33}


def reference_split(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Train = first 34/33/33 neutral/positive/negative rows in file order; test = same counts from offset 100."""
    by_label: dict[str, list[str]] = {label: [] for label in LABELS}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text, label = (row.get("text") or "").strip(), (row.get("airline_sentiment") or "").strip()
            if text and label in by_label:
                by_label[label].append(row["text"])
    train = [(t, label) for label, n in COUNTS.items() for t in by_label[label][:n]]
    test = [(t, label) for label, n in COUNTS.items() for t in by_label[label][100 : 100 + n]]
    return train, test


def read_label(output: str) -> str | None:
    found = [label for label in LABELS if label in output.lower()]
    return found[0] if len(found) == 1 else None


def accuracy(predictor, test, messages_for, batch_size: int = 16) -> tuple[float, float, list[str]]:
    started = time.monotonic()
    outputs: list[str] = []
    for start in range(0, len(test), batch_size):
        requests = [
            ChatRequest(messages=messages_for(t), temperature=0, max_tokens=10)
            for t, _ in test[start : start + batch_size]
        ]
        outputs.extend(r.text for r in predictor.complete(requests))
    seconds = time.monotonic() - started
    correct = sum(read_label(o) == label for o, (_, label) in zip(outputs, test, strict=True))
    return correct / len(test), len(test) / seconds, outputs


def reference_prompt(text: str) -> list[dict]:
    return [{"role": "user", "content": EVAL_TEMPLATE.format(text=text)}]


def training_prompt(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/Tweets.csv")
    parser.add_argument("--method", default="lora", choices=["lora", "full"])
    parser.add_argument("--epochs", default="auto")
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--lr-mult", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-tokens", type=int, default=512)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--zero-shot", action="store_true")
    args = parser.parse_args()

    train, test = reference_split(args.csv)
    trainer = SmolLMTrainer(cache_dir=args.cache_dir, method=args.method, max_train_tokens=args.max_train_tokens)
    started = time.monotonic()
    base = trainer.load(None)
    print(f"load: {time.monotonic() - started:.1f} s")
    if args.zero_shot:
        acc, rate, outputs = accuracy(base, test, reference_prompt)
        print(f"zero-shot reference prompt: accuracy {acc:.2f}, {rate:.1f} completions/s, e.g. {outputs[:3]}")

    examples = [training_prompt(t) + [{"role": "assistant", "content": label}] for t, label in train]
    requested = {"n_epochs": args.epochs, "batch_size": args.batch_size, "learning_rate_multiplier": args.lr_mult}
    hp = trainer.resolve_hyperparameters(requested, len(examples))
    with tempfile.TemporaryDirectory() as tmp:
        losses: list[float] = []
        ctx = TrainingContext(
            output_dir=Path(tmp),
            hyperparameters=hp,
            seed=args.seed,
            report=lambda **m: (
                losses.append(m["train_loss"]),
                print(f"  step {m['step']}/{m['total_steps']} loss {m['train_loss']:.3f}", flush=True),
            ),
            log=print,
        )
        started, cpu_started = time.monotonic(), time.process_time()
        result = trainer.train(examples, ctx)
        seconds, cpu_seconds = time.monotonic() - started, time.process_time() - cpu_started
        print(
            f"train: {args.method} {hp}, {seconds:.1f} s wall, {cpu_seconds:.0f} s CPU, "
            f"{result.trained_tokens} tokens, loss first/last {losses[0]:.3f}/{losses[-1]:.3f}"
        )
        tuned = trainer.load(Path(tmp))
        acc_ref, rate, outputs = accuracy(tuned, test, reference_prompt)
        acc_train, _, _ = accuracy(tuned, test, training_prompt)
    invalid = sum(read_label(o) is None for o in outputs)
    print(
        f"fine-tuned: reference prompt {acc_ref:.2f} ({invalid} unreadable), training format {acc_train:.2f}, "
        f"{rate:.1f} completions/s (batches of 16), e.g. {outputs[:3]}"
    )


if __name__ == "__main__":
    main()
