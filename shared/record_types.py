"""The experiment record's types (schema_version 1, docs/ARCHITECTURE.md), in one place.

Records stay plain JSON dicts (in Redis, in `show --json`, in the API), so these are TypedDicts: they cost nothing at
run time and let the type checker hold every builder and reader to one shape. `web.openapi` generates the API's
JSON schemas from these same classes, so the published document cannot drift from them.

A class docstring becomes the schema's description. This module does not use `from __future__ import annotations`:
with it, Python 3.11 cannot tell `NotRequired` keys from required ones.
"""

from typing import Final, Literal, NotRequired, TypedDict, get_args

SCHEMA_VERSION: Final = 1
"""Bump with `ExperimentState.schema_version` when a stored record changes shape."""

ExperimentStatus = Literal["queued", "preparing", "running", "succeeded", "failed", "cancelled"]
RunStatus = Literal["pending", "fine_tuning", "evaluating", "succeeded", "failed", "cancelled"]
RunKind = Literal["fine-tuned", "zero-shot"]
EventLevel = Literal["info", "warning", "error"]
SamplingMode = Literal["balanced", "random"]
Auto = Literal["auto"]

EXPERIMENT_STATUSES: Final[tuple[ExperimentStatus, ...]] = get_args(ExperimentStatus)
RUN_STATUSES: Final[tuple[RunStatus, ...]] = get_args(RunStatus)
RUN_KINDS: Final[tuple[RunKind, ...]] = get_args(RunKind)


class Event(TypedDict):
    """Something that happened to an experiment or a run (the latest 500 are kept)."""

    at: str
    level: EventLevel
    message: str


class Columns(TypedDict):
    """The CSV columns holding the text and the label."""

    text: str
    label: str


class DatasetInfo(TypedDict):
    """The uploaded CSV; the counts are filled in by the prepare step."""

    name: str
    path: str | None
    sha256: str
    columns: Columns
    n_rows: int | None
    class_counts: dict[str, int] | None
    n_items: NotRequired[int]
    dropped_rows: NotRequired[int]


class Sampling(TypedDict):
    """How the train and test items are drawn (`shared.dataset_sampling.SamplingSpec`)."""

    mode: SamplingMode
    train_counts: dict[str, int]
    train_offset: int
    test_counts: dict[str, int]
    test_offset: int
    seed: int | None


class Prompt(TypedDict):
    """The prompt preset as edited (`shared.prompts.PromptPreset`); `preset` is its name."""

    preset: str
    system_prompt: str | None
    user_template: str
    eval_system_prompt: str | None
    temperature: float
    max_tokens: int
    training_template: str


class Hyperparameters(TypedDict):
    """Fine-tuning hyperparameters: "auto" lets the provider choose."""

    n_epochs: int | Auto
    batch_size: int | Auto
    learning_rate_multiplier: float | Auto
    suffix: str
    seed: int | None


class Provider(TypedDict):
    """Where the experiment runs. API keys never appear in a record."""

    base_url: str


class SplitInfo(TypedDict):
    """The drawn split: 0-based data-row numbers of the CSV and per-class counts."""

    train_rows: list[int]
    test_rows: list[int]
    train_counts: dict[str, int]
    test_counts: dict[str, int]
    labels: list[str]


class TrainingFile(TypedDict):
    """The uploaded training JSONL."""

    file_id: str
    n_examples: int
    bytes: int
    tokens: int
    tokens_exact: bool
    encoding: str
    tokens_note: str


class Progress(TypedDict):
    """Test items answered so far, of all."""

    done: int
    total: int


class ClassScores(TypedDict):
    precision: float
    recall: float
    f1: float
    support: int


class ConfusionMatrix(TypedDict):
    """Rows are expected labels, columns predicted labels; `invalid` counts invalid outputs per expected label."""

    labels: list[str]
    matrix: list[list[int]]
    invalid: list[int]


class Metrics(TypedDict):
    """A run's scores on the test items; an invalid output counts as wrong."""

    accuracy: float
    macro_f1: float
    invalid: int
    n: int
    per_class: dict[str, ClassScores]
    confusion_matrix: ConfusionMatrix


class Prediction(TypedDict):
    """One test item's answer; `predicted` is null for an output naming no label or several."""

    row: int
    expected: str
    output: str | None
    predicted: str | None


class RunState(TypedDict):
    """A run as stored under its own key: everything but its predictions."""

    id: str
    base_model: str
    kind: RunKind
    status: RunStatus
    file_id: str | None
    job_id: str | None
    job_status: str | None
    fine_tuned_model: str | None
    training_seconds: float | None
    trained_tokens: int | None
    cost_estimate_usd: float | None
    events: list[Event]
    progress: Progress
    metrics: Metrics | None
    error: str | None
    created_at: str
    updated_at: str | None
    finished_at: str | None
    deadline_at: NotRequired[float]
    training_started_at: NotRequired[float]
    evaluated_model: NotRequired[str]


class Run(RunState):
    """One model's run: fine-tuned then evaluated, or evaluated zero-shot. `predictions` is empty when left out."""

    predictions: list[Prediction]


class SummaryRow(TypedDict):
    run: str
    base_model: str
    kind: RunKind
    status: RunStatus
    fine_tuned_model: str | None
    accuracy: float | None
    macro_f1: float | None
    invalid: int | None
    training_seconds: float | None
    cost_estimate_usd: float | None


class Summary(TypedDict):
    """The comparison table and the best succeeded run (by accuracy, then macro-F1)."""

    best_run: str | None
    table: list[SummaryRow]


class ExperimentState(TypedDict):
    """An experiment as stored under its own key: everything but its runs."""

    schema_version: Literal[1]
    id: str
    status: ExperimentStatus
    created_at: str
    updated_at: str
    finished_at: str | None
    error: str | None
    cancel_requested: bool
    events: list[Event]
    dataset: DatasetInfo
    sampling: Sampling
    prompt: Prompt
    hyperparameters: Hyperparameters
    provider: Provider
    split: SplitInfo | None
    training_file: TrainingFile | None
    summary: Summary | None


class ExperimentRecord(ExperimentState):
    """The experiment record: what `python -m worker show ID --json` prints and `GET /api/experiments/<id>`
    serves."""

    runs: list[Run]


class StoredItem(TypedDict):
    row: int
    text: str
    label: str


class StoredItems(TypedDict):
    """The train and test items the prepare step drew (stored beside the record, never served)."""

    train: list[StoredItem]
    test: list[StoredItem]
    labels: list[str]


class ReportIssue(TypedDict):
    line: int
    message: str


class ModelEstimateBody(TypedDict):
    """One run's estimated tokens and cost; `cost_usd` is null for a model missing from the price table."""

    model: str
    kind: str
    training_tokens: int | None
    evaluation_tokens: int
    tokens_exact: bool
    cost_usd: float | None
    note: str


class PrelaunchReport(TypedDict):
    """The check shown before launch (`shared.estimates.Report.to_dict`): is the training file valid, and what each
    run costs."""

    ok: bool
    n_examples: int
    n_train: int
    n_test: int
    issues: list[ReportIssue]
    models: list[ModelEstimateBody]
    price_note: str
