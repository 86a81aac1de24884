"""Accuracy, training time and chat throughput of every local_openai base model on the reference split.

Starts a real `python -m local_openai` (or uses --base-url) and goes only through the official openai SDK, exactly
like the worker. Reference split of Tweets.csv: train = first 34 neutral / 33 positive / 33 negative rows, test = the
same counts from offset 100 of each class. Each fine-tuned model is asked twice: with the reference evaluation
prompt (one user message wrapping the tweet, no system prompt) and in its training format (system prompt + tweet).
Training seconds are the server's own measure from the job starting to run until its model is saved (loading the
base model included); throughput is completions per second over the 100 test prompts at concurrency 1 and 32.

    .venv/bin/python bench/local_quality.py --models local-tfidf local-minilm --seeds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from local_openai.job_record import FINISHED  # noqa: E402
from shared.dataset_reading import Item, load_items  # noqa: E402
from shared.dataset_sampling import reference_sampling, split_items  # noqa: E402
from shared.jsonl import chat_jsonl  # noqa: E402
from shared.metrics import normalize_output  # noqa: E402
from shared.prompts import PRESETS, evaluation_messages, training_messages  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "Tweets.csv"
# Classifier backends are deterministic for a given file, so one seed says all there is to say.
DETERMINISTIC = {"local-tfidf"}


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local_openai", "--port", "0", "--data-dir", str(data_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("local_openai listening on "):
            return process, line.split()[-1]
    raise SystemExit("local_openai did not start; run `python -m local_openai --port 0` to see why")


def ask_all(client: openai.OpenAI, model: str, messages: list[list[dict]], concurrency: int) -> tuple[list[str], float]:
    """All answers (in order) and the completions per second achieved at `concurrency`."""

    def ask(conversation: list[dict]) -> str:
        answer = client.chat.completions.create(model=model, messages=conversation, temperature=0, max_tokens=10)
        return answer.choices[0].message.content or ""

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outputs = list(pool.map(ask, messages))
    return outputs, len(messages) / (time.perf_counter() - started)


def accuracy(outputs: list[str], test: list[Item], labels: list[str]) -> float:
    return sum(normalize_output(o, labels) == item.label for o, item in zip(outputs, test, strict=True)) / len(test)


def fine_tune(client: openai.OpenAI, model: str, file_id: str, seed: int) -> tuple[str, float]:
    job = client.fine_tuning.jobs.create(training_file=file_id, model=model, seed=seed, suffix="bench")
    while job.status not in FINISHED:
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)
    if job.status != "succeeded":
        raise SystemExit(f"{model} fine-tuning {job.status}: {job.error}")
    events = client.fine_tuning.jobs.list_events(job.id, limit=5).data
    seconds = next(e.data["training_seconds"] for e in events if e.data and "training_seconds" in e.data)
    return job.fine_tuned_model, seconds


def spread(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def bench_model(
    client: openai.OpenAI,
    model: str,
    seeds: int,
    file_id: str,
    test: list[Item],
    labels: list[str],
    answers_untuned: bool,
) -> dict:
    eval_prompt = [evaluation_messages(PRESETS["reference"], item.text) for item in test]
    train_format = [evaluation_messages(PRESETS["consistent"], item.text) for item in test]
    row: dict = {"model": model, "seeds": 0, "train_s": [], "acc_eval": [], "acc_train": [], "zero_shot": None}
    if answers_untuned:
        outputs, _ = ask_all(client, model, eval_prompt, 32)
        row["zero_shot"] = accuracy(outputs, test, labels)
    for seed in range(1 if model in DETERMINISTIC else seeds):
        tuned, seconds = fine_tune(client, model, file_id, seed)
        row["seeds"] += 1
        row["train_s"].append(seconds)
        outputs, _ = ask_all(client, tuned, eval_prompt, 32)
        row["acc_eval"].append(accuracy(outputs, test, labels))
        outputs, _ = ask_all(client, tuned, train_format, 32)
        row["acc_train"].append(accuracy(outputs, test, labels))
        if seed == 0:
            _, row["rps_1"] = ask_all(client, tuned, eval_prompt, 1)
            _, row["rps_32"] = ask_all(client, tuned, eval_prompt, 32)
        print(
            f"  {model} seed {seed}: train {seconds:.1f} s, acc eval-prompt {row['acc_eval'][-1]:.3f}, "
            f"train-format {row['acc_train'][-1]:.3f}",
            flush=True,
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="base models to measure (default: all the server lists)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per seeded model (default 3)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Tweets.csv path")
    parser.add_argument("--base-url", help="use a running server instead of starting one")
    args = parser.parse_args()

    items = load_items(args.data.read_bytes(), "text", "airline_sentiment")
    split = split_items(items, reference_sampling(sorted({item.label for item in items})))
    examples = [training_messages(PRESETS["reference"], item.text, item.label) for item in split.train]

    process = None
    with tempfile.TemporaryDirectory(prefix="local_quality-") as data_dir:
        if args.base_url:
            base_url = args.base_url
        else:
            process, base_url = start_server(Path(data_dir))
        try:
            client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
            listed = [m.id for m in client.models.list() if not m.id.startswith("ft:")]
            models = args.models or listed
            missing = sorted(set(models) - set(listed))
            if missing:
                raise SystemExit(f"not offered by the server: {', '.join(missing)} (it lists {', '.join(listed)})")
            file_id = client.files.create(file=("reference.jsonl", chat_jsonl(examples)), purpose="fine-tune").id
            print(
                f"reference split: {len(split.train)} train / {len(split.test)} test rows of {args.data.name}; "
                f"{os.cpu_count()} CPUs, load average {_load()} at start",
                flush=True,
            )
            rows = []
            for model in models:
                answers_untuned = _answers_untuned(client, model)
                rows.append(bench_model(client, model, args.seeds, file_id, split.test, split.labels, answers_untuned))
        finally:
            if process:
                process.terminate()
                process.wait(timeout=30)
    print_table(rows)
    print(f"\nload average {_load()} at the end (timings are wall-clock and shared with whatever else runs)")


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _answers_untuned(client: openai.OpenAI, model: str) -> bool:
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=1)
    except openai.BadRequestError:
        return False
    return True


def print_table(rows: list[dict]) -> None:
    header = ("base model", "seeds", "train s", "acc eval-prompt", "acc train-format", "zero-shot", "c=1 /s", "c=32 /s")
    lines = [header] + [
        (
            r["model"],
            str(r["seeds"]),
            spread(r["train_s"], 1),
            spread(r["acc_eval"]),
            spread(r["acc_train"]),
            "-" if r["zero_shot"] is None else f"{r['zero_shot']:.3f}",
            f"{r['rps_1']:.1f}" if "rps_1" in r else "-",
            f"{r['rps_32']:.1f}" if "rps_32" in r else "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))


if __name__ == "__main__":
    main()
