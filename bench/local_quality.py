"""Accuracy, training time and chat throughput of every local_openai base model on the reference split.

Starts a real `python -m local_openai` per device (cpu, and cuda where torch sees a GPU; or uses --base-url) and goes
only through the official openai SDK, exactly like the worker. Reference split of Tweets.csv: train = first 34
neutral / 33 positive / 33 negative rows, test = the same counts from offset 100 of each class. The training file is
written by the demo's prompt preset (--preset); each fine-tuned model is asked twice: with the reference evaluation
prompt (one user message wrapping the tweet, no system prompt) and in its training format (system prompt + tweet).
Training seconds are the server's own measure from the job starting to run until its model is saved (loading the
base model included); throughput is completions per second over the 100 test prompts at concurrency 1 and 32
(temperature 0, max_tokens 10). Seeds 1, 2 and 3 by default: mean ± standard deviation.

    .venv/bin/python bench/local_quality.py --models local-tfidf local-minilm --seeds 1 2 3
    .venv/bin/python bench/local_quality.py --readme README.md   # what `make bench` runs: also rewrites its table
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import load, machine, spread, table, update_readme  # noqa: E402
from local_openai.job_record import FINISHED  # noqa: E402
from local_openai.trainers.torch_runtime import DEVICE_ENV  # noqa: E402
from shared.dataset_reading import Item, load_items  # noqa: E402
from shared.dataset_sampling import reference_sampling, split_items  # noqa: E402
from shared.jsonl import chat_jsonl  # noqa: E402
from shared.metrics import normalize_output  # noqa: E402
from shared.prompts import PRESETS, evaluation_messages, training_examples  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "Tweets.csv"
# Classifier backends are deterministic for a given file, so one seed says all there is to say.
DETERMINISTIC = {"local-tfidf"}


def start_server(data_dir: Path, device: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local_openai", "--port", "0", "--data-dir", str(data_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, DEVICE_ENV: device},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("local_openai listening on "):
            return process, line.split()[-1]
    raise SystemExit("local_openai did not start; run `python -m local_openai --port 0` to see why")


def ask_all(client: openai.OpenAI, model: str, messages: list[list], concurrency: int) -> tuple[list[str], float]:
    """All answers (in order) and the completions per second achieved at `concurrency`."""

    def ask(conversation: list) -> str:
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
    if job.status != "succeeded" or job.fine_tuned_model is None:
        raise SystemExit(f"{model} fine-tuning {job.status}: {job.error}")
    events = client.fine_tuning.jobs.list_events(job.id, limit=5).data
    seconds = next(e.data["training_seconds"] for e in events if e.data and "training_seconds" in e.data)
    return job.fine_tuned_model, seconds


def bench_model(
    client: openai.OpenAI,
    model: str,
    seeds: list[int],
    file_id: str,
    test: list[Item],
    labels: list[str],
    answers_untuned: bool,
) -> dict:
    eval_prompt = [evaluation_messages(PRESETS["reference"], item.text) for item in test]
    train_format = [evaluation_messages(PRESETS["consistent"], item.text) for item in test]
    row: dict = {"model": model, "seeds": [], "train_s": [], "acc_eval": [], "acc_train": [], "zero_shot": None}
    if answers_untuned:
        outputs, _ = ask_all(client, model, eval_prompt, 32)
        row["zero_shot"] = accuracy(outputs, test, labels)
    for seed in seeds[:1] if model in DETERMINISTIC else seeds:
        tuned, seconds = fine_tune(client, model, file_id, seed)
        row["seeds"].append(seed)
        row["train_s"].append(seconds)
        outputs, _ = ask_all(client, tuned, eval_prompt, 32)
        row["acc_eval"].append(accuracy(outputs, test, labels))
        outputs, _ = ask_all(client, tuned, train_format, 32)
        row["acc_train"].append(accuracy(outputs, test, labels))
        if "rps_1" not in row:
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds (default 1 2 3)")
    parser.add_argument(
        "--preset", default="reference", choices=sorted(PRESETS), help="training file's preset (default %(default)s)"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Tweets.csv path")
    parser.add_argument("--devices", nargs="+", choices=("cpu", "cuda"), help="default: cpu, and cuda when present")
    parser.add_argument("--base-url", help="use a running server instead of starting one")
    parser.add_argument("--readme", type=Path, help="rewrite this README's bench:local_quality table")
    args = parser.parse_args()

    import torch

    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    items = load_items(args.data.read_bytes(), "text", "airline_sentiment")
    split = split_items(items, reference_sampling(sorted({item.label for item in items})))
    preset = PRESETS[args.preset]
    examples = [e for item in split.train for e in training_examples(preset, item.text, item.label)]
    header = (
        f"reference split of {args.data.name}: {len(split.train)} train rows ({len(examples)} examples, preset "
        f"{args.preset}) / {len(split.test)} test rows; seeds {' '.join(map(str, args.seeds))}\n{machine()}"
    )
    print(f"{header}\nload average {load()} at the start", flush=True)
    rows = []
    for device in ["remote"] if args.base_url else devices:
        rows += [{**row, "device": device} for row in _bench_server(args, device, examples, split)]
    text = f"{header}\n\n{print_table(rows)}"
    print(f"\n{text}\n\nload average {load()} at the end (timings are wall-clock, shared with whatever else runs)")
    if args.readme:
        update_readme(args.readme, "local_quality", text)


def _bench_server(args: argparse.Namespace, device: str, examples: list, split) -> list[dict]:
    process = None
    with tempfile.TemporaryDirectory(prefix="local_quality-") as data_dir:
        if args.base_url:
            base_url = args.base_url
        else:
            process, base_url = start_server(Path(data_dir), device)
        try:
            client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
            listed = [m.id for m in client.models.list() if not m.id.startswith("ft:")]
            models = args.models or listed
            missing = sorted(set(models) - set(listed))
            if missing:
                raise SystemExit(f"not offered by the server: {', '.join(missing)} (it lists {', '.join(listed)})")
            file_id = client.files.create(file=("reference.jsonl", chat_jsonl(examples)), purpose="fine-tune").id
            print(f"device {device}:", flush=True)
            test, labels = split.test, split.labels
            return [
                bench_model(client, model, args.seeds, file_id, test, labels, _answers_untuned(client, model))
                for model in models
            ]
        finally:
            if process:
                process.terminate()
                process.wait(timeout=30)


def _answers_untuned(client: openai.OpenAI, model: str) -> bool:
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=1)
    except openai.BadRequestError:
        return False
    return True


def print_table(rows: list[dict]) -> str:
    header = (
        "base model",
        "device",
        "seeds",
        "train s",
        "acc eval-prompt",
        "acc train-format",
        "zero-shot",
        "c=1 /s",
        "c=32 /s",
    )
    return table(
        header,
        [
            (
                r["model"],
                r["device"],
                str(len(r["seeds"])),
                spread(r["train_s"], 1),
                spread(r["acc_eval"]),
                spread(r["acc_train"]),
                "-" if r["zero_shot"] is None else f"{r['zero_shot']:.3f}",
                f"{r['rps_1']:.1f}" if "rps_1" in r else "-",
                f"{r['rps_32']:.1f}" if "rps_32" in r else "-",
            )
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
