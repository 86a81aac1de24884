"""The upload step: write the training JSONL from the stored split, validate it, and upload it once."""

from __future__ import annotations

import openai

from shared import tokens
from shared.dataset_sampling import Split
from shared.jsonl import chat_jsonl, validate_chat_jsonl
from shared.prepare import load_split
from shared.prompts import PromptPreset, training_messages
from shared.run_state import StepError, check_not_cancelled, experiment_record
from shared.store import Store


def training_file(split: Split, preset: PromptPreset) -> bytes:
    return chat_jsonl(training_messages(preset, item.text, item.label) for item in split.train)


def upload(store: Store, client: openai.OpenAI, exp_id: str) -> str:
    """Write, validate and upload the training JSONL; returns the file id (the stored one if already uploaded)."""
    check_not_cancelled(store, exp_id)
    record = experiment_record(store, exp_id)
    stored = record.get("training_file")
    existing = stored.get("file_id") if stored else None
    if existing:
        return existing
    split = load_split(store, exp_id)
    preset = PromptPreset.from_dict(record["prompt"])
    data = training_file(split, preset)
    report = validate_chat_jsonl(data)
    if not report.ok:
        raise StepError(f"the training file is invalid: {report.error_message()}")
    examples = [training_messages(preset, item.text, item.label) for item in split.train]
    models = [run["base_model"] for run in record["runs"] if run["kind"] == "fine-tuned"] or ["unknown"]
    count = tokens.count_examples(examples, models[0])
    uploaded = client.files.create(file=(f"{exp_id}-train.jsonl", data, "application/jsonl"), purpose="fine-tune")
    store.update_experiment(
        exp_id,
        training_file={"file_id": uploaded.id, "n_examples": report.n_examples, "bytes": len(data), **count.to_dict()},
    )
    store.add_event(
        exp_id, None, f"uploaded the training file {uploaded.id} ({report.n_examples} examples, {count.tokens} tokens)"
    )
    return uploaded.id
