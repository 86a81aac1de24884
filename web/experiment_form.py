"""Turn the new-experiment form (or the API's fields) into an `ExperimentSpec`, collecting one error per field.

Both the HTML form and `POST /api/experiments` go through `parse_fields`, so they accept exactly the same input
(the API's JSON body is first flattened into these fields by `web.api_fields`).
Field names: `text_column`, `label_column`, `sampling_mode`, `train_count:<label>`, `test_count:<label>`,
`train_offset`, `test_offset`, `sampling_seed`, `validation_count`, `preset`, `system_prompt`, `user_template`,
`models` (repeated), `models_other`, `zero_shot` (repeated), `zero_shot_other`, `n_epochs`, `batch_size`,
`learning_rate_multiplier`, `suffix`, `hp_seed`. `counts_for` names the label column the count fields were shown
for (the form sends it so counts typed for another label column are not applied to this one).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import NamedTuple, TypedDict, overload

from werkzeug.datastructures import MultiDict

from shared.dataset_reading import (
    DatasetError,
    Item,
    class_counts,
    column_index,
    detect_columns,
    items_from_rows,
    read_table,
)
from shared.dataset_sampling import SamplingSpec, Split, ValidationSplitError, reference_sampling, split_items
from shared.prompts import PRESETS, PromptError, PromptPreset, get_preset
from shared.record_types import SamplingMode
from shared.records import (
    HYPERPARAMETER_FIELDS,
    ExperimentSpec,
    RecordError,
    check_classes,
    check_columns,
    normalize_hyperparameters,
)
from shared.settings import Settings, get_settings

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
PREVIEW_ROWS = 5

Fields = MultiDict[str, str]
"""The submitted form, or the API body flattened by `web.api_fields.json_to_fields`."""


class FormValues(TypedDict):
    """The form's fields as typed (or as defaulted), to render it again."""

    text_column: str | None
    label_column: str | None
    sampling_mode: str
    train_counts: dict[str, int]
    test_counts: dict[str, int]
    train_offset: int
    test_offset: int
    sampling_seed: int | str
    """A drawn or typed seed, or "" for none."""
    validation_count: int
    preset: str
    system_prompt: str
    user_template: str
    models: list[str]
    models_other: str
    zero_shot: list[str]
    zero_shot_other: str
    n_epochs: str
    batch_size: str
    learning_rate_multiplier: str
    suffix: str
    hp_seed: str


class DatasetPreview(TypedDict):
    sha256: str
    name: str
    header: list[str]
    n_rows: int
    preview: list[list[str]]


@dataclass(frozen=True)
class UploadedDataset:
    sha256: str
    name: str
    data: bytes


@dataclass
class Draft:
    """Everything the form needs to re-render: the values as typed, errors by field, and, when valid, the spec."""

    values: FormValues
    errors: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] | None = None
    split: Split | None = None
    spec: ExperimentSpec | None = None


def _names(fields: Fields, key: str) -> list[str]:
    names = [value.strip() for value in fields.getlist(key)]
    for other in fields.getlist(f"{key}_other"):
        names += [part.strip() for part in re.split(r"[,\n]", other)]
    return list(dict.fromkeys(name for name in names if name))


@overload
def _int(raw: str | None, name: str, errors: dict[str, str], default: int, minimum: int | None = 0) -> int: ...


@overload
def _int(raw: str | None, name: str, errors: dict[str, str], default: None, minimum: int | None = 0) -> int | None: ...


def _int(
    raw: str | None, name: str, errors: dict[str, str], default: int | None, minimum: int | None = 0
) -> int | None:
    if raw is None or not str(raw).strip():
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        errors[name] = f"{raw!r} is not a whole number; enter one such as {default if default is not None else 42}."
        return default
    if minimum is not None and value < minimum:
        errors[name] = f"{value} is too small; enter {minimum} or more."
    return value


def default_values() -> FormValues:
    """The form's defaults: the reference preset and sampling, provider-chosen hyperparameters."""
    preset = PRESETS["reference"]
    values: FormValues = {
        "text_column": None,
        "label_column": None,
        "sampling_mode": "balanced",
        "train_counts": {},
        "test_counts": {},
        "train_offset": 0,
        "test_offset": 100,
        "sampling_seed": "",
        "validation_count": 0,
        "preset": preset.name,
        "system_prompt": preset.system_prompt or "",
        "user_template": preset.user_template,
        "models": [],
        "models_other": "",
        "zero_shot": [],
        "zero_shot_other": "",
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "suffix": "tq",
        "hp_seed": "",
    }
    return values


def preview(dataset: UploadedDataset) -> DatasetPreview:
    header, rows = read_table(dataset.data, dataset.name)
    return {
        "sha256": dataset.sha256,
        "name": dataset.name,
        "header": header,
        "n_rows": len(rows),
        "preview": [row + [""] * (len(header) - len(row)) for row in rows[:PREVIEW_ROWS]],
    }


class ChosenColumns(NamedTuple):
    text: str
    label: str
    items: list[Item]


def _columns(
    fields: Fields, header: list[str], rows: list[list[str]], values: FormValues, errors: dict[str, str]
) -> ChosenColumns | None:
    detected_text, detected_label = detect_columns(header, rows)
    text_column = values["text_column"] = (fields.get("text_column") or detected_text or "").strip()
    label_column = values["label_column"] = (fields.get("label_column") or detected_label or "").strip()
    for role, name in (("text", text_column), ("label", label_column)):
        if not name:
            errors[f"{role}_column"] = f"Choose the {role} column; none could be detected."
            continue
        try:
            column_index(header, name, role)
        except DatasetError as exc:
            errors[f"{role}_column"] = str(exc)
    if errors:
        return None
    try:
        return ChosenColumns(text_column, label_column, items_from_rows(header, rows, text_column, label_column)[0])
    except DatasetError as exc:
        errors["label_column"] = str(exc)
        return None


def _sampling(fields: Fields, labels: list[str], values: FormValues, errors: dict[str, str]) -> SamplingSpec | None:
    try:
        default = reference_sampling(labels)
    except DatasetError as exc:
        errors["label_column"] = str(exc)
        return None
    typed_mode = (fields.get("sampling_mode") or "balanced").strip()
    mode: SamplingMode = "random" if typed_mode == "random" else "balanced"
    if typed_mode not in ("balanced", "random"):
        errors["sampling_mode"] = f"Unknown sampling mode {typed_mode!r}; choose 'balanced' or 'random'."
    stale = fields.get("counts_for") not in (None, values["label_column"])
    counts: dict[str, dict[str, int]] = {}
    for side, default_counts in (("train", default.train_counts), ("test", default.test_counts)):
        given = {key.split(":", 1)[1]: raw for key, raw in fields.items(multi=True) if key.startswith(f"{side}_count:")}
        chosen = dict(default_counts) if stale or not given else {}
        if not stale:
            for label, raw in given.items():
                chosen[label] = _int(raw, "counts", errors, 0)
        counts[side] = chosen
    values["train_counts"], values["test_counts"] = counts["train"], counts["test"]
    values["sampling_mode"] = mode
    values["train_offset"] = _int(fields.get("train_offset"), "train_offset", errors, 0)
    values["test_offset"] = _int(fields.get("test_offset"), "test_offset", errors, default.test_offset)
    seed = _int(fields.get("sampling_seed"), "sampling_seed", errors, None, minimum=None)
    if mode == "random" and seed is None:
        seed = secrets.randbelow(2**31)
    values["sampling_seed"] = "" if seed is None else seed
    values["validation_count"] = _int(fields.get("validation_count"), "validation_count", errors, 0)
    if errors:
        return None
    return SamplingSpec(
        mode=mode,
        train_counts=counts["train"],
        train_offset=values["train_offset"],
        test_counts=counts["test"],
        test_offset=values["test_offset"],
        seed=seed,
        validation_count=values["validation_count"],
    )


def _prompt(fields: Fields, values: FormValues, errors: dict[str, str]) -> PromptPreset | None:
    values["preset"] = (fields.get("preset") or "reference").strip()
    try:
        preset = get_preset(values["preset"])
    except PromptError as exc:
        errors["preset"] = str(exc)
        return None
    system_prompt = fields.get("system_prompt")
    user_template = fields.get("user_template")
    values["system_prompt"] = (preset.system_prompt or "") if system_prompt is None else system_prompt.strip()
    values["user_template"] = preset.user_template if user_template is None else user_template.replace("\r\n", "\n")
    if values["system_prompt"] == (preset.system_prompt or "") and values["user_template"] == preset.user_template:
        return preset
    try:
        return preset.edited(system_prompt=values["system_prompt"], user_template=values["user_template"])
    except PromptError as exc:
        errors["user_template"] = str(exc)
        return None


def _models(fields: Fields, values: FormValues, errors: dict[str, str]) -> tuple[list[str], list[str]]:
    models, zero_shot = _names(fields, "models"), _names(fields, "zero_shot")
    values.update({"models": models, "zero_shot": zero_shot, "models_other": "", "zero_shot_other": ""})
    bad = [name for name in models + zero_shot if not MODEL_NAME.match(name)]
    if bad:
        errors["models"] = (
            f"Not a valid model name: {bad[0]!r}. Use the provider's model id, e.g. local-tfidf or "
            f"gpt-4o-mini-2024-07-18."
        )
    elif not models and not zero_shot:
        errors["models"] = "Pick at least one base model to fine-tune or to ask zero-shot."
    return models, zero_shot


def _hyperparameters(fields: Fields, values: FormValues, errors: dict[str, str]) -> dict[str, object]:
    """Each value checked on its own by `shared.records.normalize_hyperparameters`, so errors land on its field."""
    chosen: dict[str, object] = {}
    defaults = default_values()
    for key, name in HYPERPARAMETER_FIELDS.items():
        raw = (fields.get(name) or "").strip()
        values[name] = raw or defaults[name]
        try:
            chosen[key] = normalize_hyperparameters({key: raw})[key]
        except RecordError as exc:
            errors[name] = str(exc)
    return chosen


def parse_fields(fields: Fields, dataset: UploadedDataset, settings: Settings | None = None) -> Draft:
    """Validate every field against the caps of `settings` (default: the process settings); `Draft.spec` is set
    only when there is no error."""
    settings = settings or get_settings()
    draft = Draft(values=default_values())
    values, errors = draft.values, draft.errors
    try:
        header, rows = read_table(dataset.data, dataset.name)
        check_columns(header, settings)
    except DatasetError as exc:
        errors["file"] = str(exc)
        return draft
    columns = _columns(fields, header, rows, values, errors)
    sampling = None
    if columns is not None:
        counts = class_counts(columns.items)
        try:
            check_classes(counts, settings)
        except RecordError as exc:
            errors["label_column"] = str(exc)
        else:
            draft.counts = counts
            sampling = _sampling(fields, sorted(counts), values, errors)
            if sampling is not None:
                try:
                    draft.split = split_items(columns.items, sampling)
                except ValidationSplitError as exc:
                    errors["validation_count"] = str(exc)
                except DatasetError as exc:
                    errors["sampling"] = str(exc)
    prompt = _prompt(fields, values, errors)
    models, zero_shot = _models(fields, values, errors)
    hyperparameters = _hyperparameters(fields, values, errors)
    if not errors and columns is not None and sampling is not None:  # no error: both are set
        try:
            draft.spec = ExperimentSpec(
                dataset_sha256=dataset.sha256,
                dataset_name=dataset.name,
                dataset_path=None,
                text_column=columns.text,
                label_column=columns.label,
                models=models,
                zero_shot=zero_shot,
                sampling=sampling,
                prompt=prompt,
                hyperparameters=hyperparameters,
                settings=settings,
            )
        except RecordError as exc:
            errors[exc.field or "models"] = str(exc)
    return draft


def initial_draft(dataset: UploadedDataset, settings: Settings | None = None) -> Draft:
    """The form as first shown for a dataset: detected columns, their class counts, reference sampling."""
    draft = parse_fields(MultiDict(), dataset, settings)
    draft.errors.clear()
    draft.spec = None
    return draft
