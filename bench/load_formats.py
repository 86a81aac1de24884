"""Seconds and peak memory to load and sample a 1,000,000-row (text, label) file in each upload format.

Writes the same rows as CSV, TSV, JSON Lines and Parquet into a temporary directory, then, in a fresh process per
format (so the RSS high-water mark is that format's alone), reads the file's bytes and times what the prepare step
and `python -m worker run --data` do with them: `read_items` (only the text and label columns), the reference
sampling and `split_items`. Memory is measured from the moment the bytes are in hand (the store hands them over),
as the peak of Arrow's memory pool plus tracemalloc's peak (Python objects), and as the RSS high-water mark gained
(reset through /proc/self/clear_refs; it also counts the allocators' arenas). The budget is about 3x the file's size;
Parquet is compressed, so its decoded text alone can pass that: compare it with the CSV's size.

    .venv/bin/python bench/load_formats.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.dataset_reading import read_items  # noqa: E402
from shared.dataset_sampling import reference_sampling, split_items  # noqa: E402

FILES = {"csv": "bench.csv", "tsv": "bench.tsv", "jsonl": "bench.jsonl", "parquet": "bench.parquet"}
WORDS = (
    "flight",
    "delayed",
    "again",
    "thanks",
    "crew",
    "great",
    "worst",
    "service",
    "bag",
    "lost",
    "gate",
    "seat",
    "upgrade",
    "refund",
    "hours",
    "on",
    "time",
    "never",
    "love",
    "the",
    "my",
    "@airline",
    "customer",
    "help",
)
LABELS = ("negative", "neutral", "positive")
MEMORY_BUDGET = 3.0


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Tweet-like texts of 8 to 16 words (about 70 characters), labels from three classes."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 17, size=rows)
    words = np.array(WORDS)[rng.integers(0, len(WORDS), size=int(lengths.sum()))]
    ends = np.cumsum(lengths)
    texts = [" ".join(words[end - length : end]) for end, length in zip(ends, lengths, strict=True)]
    return pd.DataFrame({"text": texts, "label": np.array(LABELS)[rng.integers(0, 3, size=rows)]})


def write_file(frame: pd.DataFrame, fmt: str, path: Path) -> None:
    if fmt in ("csv", "tsv"):
        frame.to_csv(path, index=False, sep="," if fmt == "csv" else "\t")
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, engine="pyarrow", index=False)


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_high_water() -> int:
    """Reset the RSS high-water mark (Linux: `echo 5 > /proc/self/clear_refs`) and return the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS")


def load_and_sample(data: bytes, name: str) -> int:
    items = read_items(data, "text", "label", name=name)
    split = split_items(items, reference_sampling(items.class_counts()))
    assert len(split.train) == 100 and len(split.test) == 100
    return len(items)


def measure(path: Path) -> dict[str, float]:
    """Load and sample one file the way the pipeline does, once for time and RSS, once under tracemalloc."""
    fmt = next(fmt for fmt, name in FILES.items() if path.name == name)
    warm_up = path.with_name("warm-up-" + path.name)
    write_file(make_frame(1000, seed=1), fmt, warm_up)
    load_and_sample(warm_up.read_bytes(), warm_up.name)  # lazy imports and pools first, so they are not counted
    data = path.read_bytes()
    pool = pa.default_memory_pool()
    arrow_before = pool.bytes_allocated()
    before = reset_high_water()
    started = time.perf_counter()
    n_items = load_and_sample(data, path.name)
    seconds = time.perf_counter() - started
    rss_peak = _status_bytes("VmHWM") - before
    arrow_peak = pool.max_memory() - arrow_before
    tracemalloc.start()
    load_and_sample(data, path.name)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "bytes": len(data),
        "items": n_items,
        "seconds": seconds,
        "rss_peak": rss_peak,
        "arrow_peak": arrow_peak,
        "traced_peak": traced_peak,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    with tempfile.TemporaryDirectory(prefix="tq-bench-") as tmp:
        frame = make_frame(args.rows)
        paths = {fmt: Path(tmp) / name for fmt, name in FILES.items()}
        for fmt, path in paths.items():
            write_file(frame, fmt, path)
        del frame
        print(
            f"{args.rows:,} rows (text, label): load (read_items) + reference sampling (split_items), from the "
            f"bytes in hand. held = Arrow pool peak + Python (tracemalloc) peak; RSS = high-water gained"
        )
        print(
            f"{'format':8} {'file MB':>8} {'seconds':>8} {'Arrow MB':>9} {'Python MB':>10} {'held x file':>12} "
            f"{'RSS MB':>7} {'RSS x file':>11}"
        )
        over = []
        for fmt, path in paths.items():
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(path)], check=True, capture_output=True, text=True
            ).stdout
            result = json.loads(out)
            size = result["bytes"]
            held = (result["arrow_peak"] + result["traced_peak"]) / size
            print(
                f"{fmt:8} {size / 1e6:8.1f} {result['seconds']:8.2f} {result['arrow_peak'] / 1e6:9.1f} "
                f"{result['traced_peak'] / 1e6:10.1f} {held:12.2f} {result['rss_peak'] / 1e6:7.1f} "
                f"{result['rss_peak'] / size:11.2f}"
            )
            if held > MEMORY_BUDGET:
                over.append(fmt)
        if over:
            print(
                f"over {MEMORY_BUDGET:g}x the file: {', '.join(over)} (a compressed format holds at least its "
                f"decoded columns: compare with the CSV's size)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
