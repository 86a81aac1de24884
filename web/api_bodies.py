"""The JSON API's request and response bodies around the experiment record (`shared.record_types`).

`web.api` builds its responses as these types and `web.openapi` generates the published schemas from them. Like
`shared.record_types`, this module does not use `from __future__ import annotations`, so Python 3.11 sees which keys
are `NotRequired`.
"""

from typing import Literal, NewType, NotRequired, Required, TypedDict

from shared.record_types import Auto, ExperimentRecord, PrelaunchReport, SamplingMode

PresetName = NewType("PresetName", str)
"""A name in `shared.prompts.PRESETS` (the OpenAPI document lists them)."""


class ErrorBody(TypedDict):
    """What is wrong and how to fix it. `fields` maps a request field to its problem; `report` is the pre-launch
    check when the training file would be invalid."""

    error: str
    fields: NotRequired[dict[str, str]]
    report: NotRequired[PrelaunchReport]


class DatasetInUseBody(TypedDict):
    """The dataset is still needed by the unfinished experiments listed in `experiments`."""

    error: str
    experiments: list[str]


class StoredDatasetBody(TypedDict):
    """An uploaded CSV, named by the sha256 of its bytes (what a JSON submission's `dataset` takes)."""

    sha256: str
    name: str


class SubmittedBody(TypedDict):
    """The experiment is queued; `url` (also the Location header) serves its record."""

    id: str
    url: str
    report: PrelaunchReport
    warnings: list[str]


class ExperimentListBody(TypedDict):
    """Experiments, newest first, without predictions."""

    experiments: list[ExperimentRecord]


class CancelBody(TypedDict):
    id: str
    cancel_requested: Literal[True]


class PromptRequest(TypedDict, total=False):
    """The prompt: a preset, optionally with an edited system prompt or user template (which must contain {text})."""

    preset: PresetName
    system_prompt: str
    user_template: str


class SamplingRequest(TypedDict, total=False):
    """How to draw the items (the record's `sampling`); counts map label -> items of that class. `validation_count`
    (default 0) is the rows per class, outside train and test, of the validation file sent with each fine-tuning
    job."""

    mode: SamplingMode
    train_counts: dict[str, int]
    train_offset: int
    test_counts: dict[str, int]
    test_offset: int
    seed: int | None
    validation_count: int


class HyperparametersRequest(TypedDict, total=False):
    """Fine-tuning hyperparameters (the record's `hyperparameters`); "auto" or omitted lets the provider choose."""

    n_epochs: int | Auto
    batch_size: int | Auto
    learning_rate_multiplier: float | Auto
    suffix: str
    seed: int | None


class SubmitRequest(TypedDict, total=False):
    """A JSON submission naming an uploaded dataset. Columns are detected when omitted; the prompt keys and the
    sampling's `validation_count` may also be given at the top level."""

    dataset: Required[str]
    text_column: str
    label_column: str
    models: list[str] | str
    zero_shot: list[str] | str
    preset: PresetName
    system_prompt: str
    user_template: str
    prompt: PromptRequest
    validation_count: int
    sampling: SamplingRequest
    hyperparameters: HyperparametersRequest


class RerunRequest(TypedDict, total=False):
    """What a re-run changes; everything else (dataset, columns, sampling, prompt, other hyperparameters) is the
    original's, so the re-run is scored on the same test items. Omitted: as in the original. `seed` is the
    fine-tuning seed (null: none, the provider chooses)."""

    models: list[str]
    zero_shot: list[str]
    seed: int | None


class RerunBody(TypedDict):
    """The re-run is queued; `url` (also the Location header) serves its record, which links back in `rerun_of`."""

    id: str
    url: str
    rerun_of: str


class RetryBody(TypedDict):
    """The run is queued again in place. `evaluation_only`: its fine-tuned model (or, zero-shot, its base model) is
    evaluated again without training; `message` says what is reused; `url` (also Location) serves the record."""

    id: str
    run: str
    attempt: int
    evaluation_only: bool
    message: str
    url: str
