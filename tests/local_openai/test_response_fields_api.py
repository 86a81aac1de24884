"""Fields without a value are omitted, not null, where OpenAI's OpenAPI document types them as integer, string or
number: a file's `expires_at` and `status_details`, a list's `first_id`/`last_id`, a checkpoint's metrics."""

from __future__ import annotations

from local_server import fine_tune, labelled_texts, training_file


def _nulls(value: dict, names) -> list[str]:
    return [name for name in names if name in value and value[name] is None]


def test_file_objects_omit_expires_at_and_status_details(client):
    raw = client.files.with_raw_response.create(
        file=("t.jsonl", training_file(labelled_texts(4, seed=1))), purpose="fine-tune"
    ).http_response.json()
    assert not _nulls(raw, ("expires_at", "status_details")), raw
    assert not _nulls(
        client.files.with_raw_response.retrieve(raw["id"]).http_response.json(), ("expires_at", "status_details")
    )
    for item in client.files.with_raw_response.list().http_response.json()["data"]:
        assert not _nulls(item, ("expires_at", "status_details")), item


def test_an_empty_page_omits_first_and_last_id(client):
    page = client.files.with_raw_response.list(purpose="vision").http_response.json()
    assert page["data"] == [] and page["has_more"] is False
    assert not _nulls(page, ("first_id", "last_id")), page
    full = client.files.with_raw_response.list().http_response.json()
    assert full["first_id"] == full["data"][0]["id"] and full["last_id"] == full["data"][-1]["id"]


def test_checkpoint_metrics_omit_what_was_not_measured(client):
    job = fine_tune(client, "local-tfidf", labelled_texts(4, seed=2))  # no validation file: no validation metrics
    (checkpoint,) = client.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id).http_response.json()["data"]
    metrics = checkpoint["metrics"]
    assert metrics["train_loss"] >= 0 and metrics["step"] == 1
    assert not [name for name, value in metrics.items() if value is None], metrics
