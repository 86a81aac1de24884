"""The experiment arguments `run` and `demo` share, and turning them into a checked, stored experiment spec."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import shared
from shared.dataset_formats import ACCEPTED_EXTENSIONS
from shared.dataset_reading import DatasetError, read_items
from shared.dataset_sampling import reference_sampling, split_items
from shared.prompts import PRESETS, PromptError, get_preset
from shared.records import ExperimentSpec, RecordError
from shared.settings import get_settings
from shared.store import DatasetQuotaExceeded, Store
from worker.commands.errors import CliError

REPO = Path(__file__).resolve().parents[2]
TWEETS_CSV = REPO.parent / "shared" / "data" / "Tweets.csv"
SAMPLE_CSV = Path(shared.__file__).resolve().parent / "sample_data" / "airline_tweets_sample.csv"
DEFAULT_DEMO_MODELS = ("smollm2-135m-instruct", "local-minilm")
DEFAULT_DEMO_ZERO_SHOT = ("smollm2-135m-instruct",)


def default_data() -> Path:
    return TWEETS_CSV if TWEETS_CSV.exists() else SAMPLE_CSV


def add_experiment_arguments(parser: argparse.ArgumentParser, demo: bool = False) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=not demo,
        default=default_data() if demo else None,
        help=f"labelled data file ({ACCEPTED_EXTENSIONS}; the format follows the extension)"
        + (f" (default {default_data()})" if demo else ""),
    )
    parser.add_argument("--text-column", default="text", help="column holding the text (default %(default)s)")
    parser.add_argument(
        "--label-column", default="airline_sentiment", help="column holding the label (default %(default)s)"
    )
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="MODEL",
        help="base model to fine-tune; repeat for several"
        + (f" (default, when no model is named: {' '.join(DEFAULT_DEMO_MODELS)})" if demo else ""),
    )
    parser.add_argument(
        "--zero-shot",
        action="append",
        default=None,
        metavar="MODEL",
        help="model to evaluate without fine-tuning, as a baseline; repeat for several"
        + (f" (default, when no model is named: {' '.join(DEFAULT_DEMO_ZERO_SHOT)})" if demo else ""),
    )
    parser.add_argument(
        "--preset", default="reference", choices=sorted(PRESETS), help="prompt preset (default %(default)s)"
    )
    parser.add_argument(
        "--validation-count",
        type=int,
        default=0,
        metavar="N",
        help="rows per class for a validation file sent with each fine-tuning job, taken after each "
        "class's train rows and outside its test rows (default 0: none)",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON record instead of the table")


def build_spec(
    store: Store,
    data_path: Path,
    text_column: str,
    label_column: str,
    models: Sequence[str],
    zero_shot: Sequence[str],
    preset: str,
    validation_count: int = 0,
) -> ExperimentSpec:
    """Check the data file and the request here, before anything is queued, then store the file (under its name, so
    the worker reads it in the same format) and return the spec."""
    if validation_count < 0:
        raise CliError(
            f"--validation-count {validation_count} is out of range: pass 0 (no validation file) or a "
            f"number of rows per class"
        )
    try:
        data = data_path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {data_path}: {exc.strerror}; pass an existing data file with --data") from None
    try:
        items = read_items(data, text_column, label_column, name=data_path.name)
        sampling = dataclasses.replace(reference_sampling(items.class_counts()), validation_count=validation_count)
        split_items(items, sampling)
        spec = ExperimentSpec(
            dataset_sha256="",
            dataset_name=data_path.name,
            dataset_path=str(data_path),
            text_column=text_column,
            label_column=label_column,
            models=list(models),
            zero_shot=list(zero_shot),
            sampling=sampling,
            prompt=get_preset(preset),
        )
    except (DatasetError, PromptError, RecordError) as exc:
        raise CliError(f"{data_path}: {exc}") from None
    try:
        spec.dataset_sha256 = store.put_dataset(data, data_path.name, quota_bytes=get_settings().dataset_quota_bytes)
    except DatasetQuotaExceeded as exc:
        raise CliError(str(exc)) from None
    return spec
