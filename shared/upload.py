"""The upload step: write the training (and validation) JSONL from the stored split, validate it, upload it once."""

from __future__ import annotations

import openai
from openai.types.chat import ChatCompletionMessageParam

from shared import tokens
from shared.dataset_reading import Item
from shared.jsonl import chat_jsonl, validate_chat_jsonl
from shared.prepare import load_split
from shared.prompts import PromptPreset, training_examples
from shared.record_types import ExperimentRecord, TrainingFile
from shared.run_state import StepError, check_not_cancelled, experiment_record
from shared.store import Store

MIN_VALIDATION_EXAMPLES = 1
"""OpenAI sets no minimum for a validation file (the training file needs 10); local_openai checks the same."""


def chat_file(items: list[Item], preset: PromptPreset) -> bytes:
    """A fine-tuning JSONL of `items`: one chat per item as the training prompt shapes it (two when the preset trains
    on the evaluation phrasing too)."""
    return chat_jsonl(_examples(items, preset))


def _examples(items: list[Item], preset: PromptPreset) -> list[list[ChatCompletionMessageParam]]:
    return [example for item in items for example in training_examples(preset, item.text, item.label)]


def _upload_jsonl(
    client: openai.OpenAI, record: ExperimentRecord, items: list[Item], name: str, min_examples: int
) -> TrainingFile:
    """Write, validate and upload one JSONL; what the record keeps of it."""
    preset = PromptPreset.from_dict(record["prompt"])
    data = chat_file(items, preset)
    report = validate_chat_jsonl(data, min_examples=min_examples)
    if not report.ok:
        raise StepError(f"the {name} file is invalid: {report.error_message()}")
    examples = _examples(items, preset)
    models = [run["base_model"] for run in record["runs"] if run["kind"] == "fine-tuned"] or ["unknown"]
    count = tokens.count_examples(examples, models[0])
    uploaded = client.files.create(
        file=(f"{record['id']}-{name}.jsonl", data, "application/jsonl"), purpose="fine-tune"
    )
    return {"file_id": uploaded.id, "n_examples": report.n_examples, "bytes": len(data), **count.to_dict()}


def upload(store: Store, client: openai.OpenAI, exp_id: str) -> str:
    """Upload the training JSONL, and the validation JSONL when the split has validation items (each only once,
    so a retried task reuses what is stored); returns the training file id."""
    check_not_cancelled(store, exp_id)
    record = experiment_record(store, exp_id)
    stored = record.get("training_file")
    training = stored.get("file_id") if stored else None
    split_info = record.get("split")
    needs_validation = bool(split_info and split_info.get("validation_rows")) and not record.get("validation_file")
    if training and not needs_validation:
        return training
    split = load_split(store, exp_id)
    if not training:
        uploaded = _upload_jsonl(client, record, split.train, "train", min_examples=10)
        store.update_experiment(exp_id, training_file=uploaded)
        store.add_event(
            exp_id,
            None,
            f"uploaded the training file {uploaded['file_id']} ({uploaded['n_examples']} "
            f"examples, {uploaded['tokens']} tokens)",
        )
        training = uploaded["file_id"]
    if needs_validation:
        validation = _upload_jsonl(client, record, split.validation, "valid", min_examples=MIN_VALIDATION_EXAMPLES)
        store.update_experiment(exp_id, validation_file=validation)
        store.add_event(
            exp_id, None, f"uploaded the validation file {validation['file_id']} ({validation['n_examples']} examples)"
        )
    return training
