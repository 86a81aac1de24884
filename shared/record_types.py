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

ExperimentStatus = Literal["queued", "preparing", "running", "succeeded", "partial", "failed", "cancelled"]
"""`partial`: some runs succeeded and some failed; `failed`: no run succeeded (or the experiment itself failed)."""
RunStatus = Literal["pending", "fine_tuning", "evaluating", "succeeded", "failed", "cancelled"]
RunKind = Literal["fine-tuned", "zero-shot"]
EventLevel = Literal["info", "warning", "error"]
SamplingMode = Literal["balanced", "random"]
MlflowStatus = Literal["logged", "failed"]
Auto = Literal["auto"]

EXPERIMENT_STATUSES: Final[tuple[ExperimentStatus, ...]] = get_args(ExperimentStatus)
FINISHED_EXPERIMENT_STATUSES: Final[tuple[ExperimentStatus, ...]] = ("succeeded", "partial", "failed", "cancelled")
"""The statuses an experiment ends in: nothing changes it afterwards."""
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
    """How the train, test and validation items are drawn (`shared.dataset_sampling.SamplingSpec`);
    `validation_count` (rows per class) is present only when above 0."""

    mode: SamplingMode
    train_counts: dict[str, int]
    train_offset: int
    test_counts: dict[str, int]
    test_offset: int
    seed: int | None
    validation_count: NotRequired[int]


class Prompt(TypedDict):
    """The prompt preset as edited (`shared.prompts.PromptPreset`); `preset` is its name."""

    preset: str
    system_prompt: str | None
    user_template: str
    eval_system_prompt: str | None
    temperature: float
    max_tokens: int
    training_template: str
    train_on_eval_phrasing: NotRequired[bool]  # absent from records written before it existed: False


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
    """The drawn split: 0-based data-row numbers of the CSV and per-class counts; the validation ones only when
    there is a validation sample."""

    train_rows: list[int]
    test_rows: list[int]
    train_counts: dict[str, int]
    test_counts: dict[str, int]
    labels: list[str]
    validation_rows: NotRequired[list[int]]
    validation_counts: NotRequired[dict[str, int]]


class TrainingFile(TypedDict):
    """The uploaded training JSONL."""

    file_id: str
    n_examples: int
    bytes: int
    tokens: int
    tokens_exact: bool
    encoding: str
    tokens_note: str


class ValidationFile(TrainingFile):
    """The uploaded validation JSONL, sent as each fine-tuning job's `validation_file`."""


class LossPoint(TypedDict):
    """One step of a fine-tuning job's loss curve, as the provider reported it (null: not measured at that step)."""

    step: int
    train_loss: float | None
    valid_loss: float | None


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
    """A run's scores on the test items; an invalid output counts as wrong. `accuracy_ci95` is the 95 % Wilson score
    interval of the accuracy, `macro_f1_ci95` a 95 % percentile bootstrap interval of macro-F1, each [low, high]."""

    accuracy: float
    accuracy_ci95: list[float]
    macro_f1: float
    macro_f1_ci95: list[float]
    invalid: int
    n: int
    per_class: dict[str, ClassScores]
    confusion_matrix: ConfusionMatrix


class Usage(TypedDict):
    """Tokens the provider reported (`usage` of its chat completions), summed."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Prediction(TypedDict):
    """One test item's answer; `predicted` is null for an output naming no label or several. `usage` is the
    provider's token count for this answer (absent when the provider reported none)."""

    row: int
    expected: str
    output: str | None
    predicted: str | None
    usage: NotRequired[Usage]


class RunState(TypedDict):
    """A run as stored under its own key: everything but its predictions. `validation_file` is the provider's id of
    its job's validation file (null: none); `loss_curve` fills, in step order, while the job trains. `attempt` is
    1, then 2, 3, ... after each retry of the run (`POST /api/experiments/<id>/runs/<run_id>/retry`).

    Set when its evaluation finishes (null before): `usage`, the provider's token counts summed over every answer;
    `cost_usd`, the actual cost (trained tokens at the training price plus `usage` at the inference prices of the
    dated price table; 0 for a local model; null for a model missing from the table), with `cost_note` saying
    which."""

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
    usage: Usage | None
    cost_usd: float | None
    cost_note: str | None
    validation_file: str | None
    loss_curve: list[LossPoint]
    attempt: int
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
    cost_usd: float | None


class ComparisonBody(TypedDict):
    """Two runs scored on the same `n` test items (`runs`: [first, second]): `accuracy_difference` is second minus
    first, with a paired bootstrap 95 % interval; `p_value` is the exact McNemar test's; `better` is the run that is
    significantly better (null: a tie within noise); `items_needed`: about how many test items would detect a
    difference of this size (80 % power); `sentence` says it in words."""

    runs: list[str]
    n: int
    accuracy_difference: float
    accuracy_difference_ci95: list[float]
    only_first_correct: int
    only_second_correct: int
    p_value: float
    significant: bool
    better: str | None
    items_needed: int | None
    sentence: str


class Summary(TypedDict):
    """The comparison table, the paired comparisons of runs scored on the same items, and the best run: declared only
    when it is significantly better than the runner-up (null otherwise; `verdict` says why, e.g. a tie within
    noise)."""

    best_run: str | None
    table: list[SummaryRow]
    comparisons: list[ComparisonBody]
    verdict: str


class MlflowLog(TypedDict):
    """Where the finished runs were logged in MLflow (MLFLOW_TRACKING_URI), or why they were not: MLflow being down
    never fails an experiment. Null until the finished experiment is logged, and always when MLFLOW_TRACKING_URI is
    unset. `runs` maps each logged run's id to its MLflow run id; `tracking_uri` has its password masked."""

    status: MlflowStatus
    tracking_uri: str
    experiment_name: str
    experiment_id: str | None
    runs: dict[str, str]
    error: str | None
    logged_at: str


class ExperimentState(TypedDict):
    """An experiment as stored under its own key: everything but its runs. `rerun_of` names the experiment this one
    re-runs (`POST /api/experiments/<id>/rerun`), null for an original."""

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
    mlflow: MlflowLog | None
    validation_file: ValidationFile | None
    rerun_of: str | None


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
    validation: NotRequired[list[StoredItem]]


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
