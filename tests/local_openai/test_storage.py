"""Persistence under the data directory: what one Storage writes, the next one reads back."""

from __future__ import annotations

import io
import json

from local_openai.storage import Storage
from shared.jsonl import JsonlLimits


def test_round_trip_of_files_jobs_events_checkpoints_models(tmp_path):
    first = Storage(tmp_path)
    record = first.add_file("t.jsonl", "fine-tune", b"{}\n")
    first.save_job({"id": "ftjob-1", "created_at": 1, "status": "queued"})
    first.add_event("ftjob-1", "hello", data={"step": 1, "train_loss": 0.5})
    first.add_checkpoint("ftjob-1", {"id": "ftckpt-1", "step_number": 1})
    first.add_model(
        {
            "id": "ft:m:local::1",
            "created": 1,
            "owned_by": "user",
            "base_model": "m",
            "job_id": "ftjob-1",
            "path": "models/ftjob-1/final",
        }
    )

    second = Storage(tmp_path)
    assert second.files[record["id"]] == record and second.file_content(record["id"]) == b"{}\n"
    assert second.jobs["ftjob-1"]["status"] == "queued"
    (event,) = second.events["ftjob-1"]
    assert event["message"] == "hello" and event["type"] == "metrics"
    assert second.checkpoints["ftjob-1"] == [{"id": "ftckpt-1", "step_number": 1}]
    assert second.model_path("ft:m:local::1") == tmp_path / "models/ftjob-1/final"


def test_torn_event_line_is_skipped(tmp_path):
    storage = Storage(tmp_path)
    storage.save_job({"id": "ftjob-2", "created_at": 1, "status": "running"})
    storage.add_event("ftjob-2", "complete")
    with open(tmp_path / "jobs" / "ftjob-2.events.jsonl", "a") as handle:
        handle.write('{"id": "ftevent-x", "mess')  # killed mid-append
    assert [e["message"] for e in Storage(tmp_path).events["ftjob-2"]] == ["complete"]


def test_shared_directory_survives_deleting_one_of_its_models(tmp_path):
    storage = Storage(tmp_path)
    (tmp_path / "models/ftjob-3/final").mkdir(parents=True)
    for name in ("ft:m:local::3", "ft:m:local::3:ckpt-step-9"):
        storage.add_model(
            {
                "id": name,
                "created": 1,
                "owned_by": "user",
                "base_model": "m",
                "job_id": "ftjob-3",
                "path": "models/ftjob-3/final",
            }
        )
    storage.delete_model("ft:m:local::3")
    assert (tmp_path / "models/ftjob-3/final").is_dir()
    storage.delete_model("ft:m:local::3:ckpt-step-9")
    assert not (tmp_path / "models/ftjob-3/final").exists()


def test_an_event_holding_a_unicode_line_separator_is_read_whole(tmp_path):
    storage = Storage(tmp_path)
    storage.save_job({"id": "ftjob-4", "created_at": 1, "status": "running"})
    with open(tmp_path / "jobs" / "ftjob-4.events.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "ftevent-1", "message": "a\u2028b\u0085c"}, ensure_ascii=False) + "\n")
    assert [e["message"] for e in Storage(tmp_path).events["ftjob-4"]] == ["a\u2028b\u0085c"]


def test_a_stream_is_stored_without_reading_it_whole(tmp_path):
    storage = Storage(tmp_path)
    data = b'{"messages": []}\n' * 200_000
    record = storage.add_file("big.jsonl", "fine-tune", io.BytesIO(data))
    assert record["bytes"] == len(data) and storage.file_content(record["id"]) == data


def test_stored_training_files_are_validated_with_the_storage_limits(tmp_path):
    storage = Storage(tmp_path, JsonlLimits(max_line_bytes=10))
    record = storage.add_file("t.jsonl", "fine-tune", b'{"messages": [{"role": "user", "content": "hi"}]}\n')
    report = storage.validate_training_file(record["id"], min_examples=1)
    assert report.issues == [
        (1, "is 49 bytes, over the limit of 10 bytes per example; shorten the example or split it into several")
    ]


def test_records_written_with_nulls_by_older_versions_load_without_them(tmp_path):
    Storage(tmp_path)
    old_file = {
        "id": "file-1",
        "object": "file",
        "bytes": 3,
        "created_at": 1,
        "filename": "t.jsonl",
        "purpose": "fine-tune",
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }
    (tmp_path / "files" / "file-1.json").write_text(json.dumps(old_file))
    job = {"id": "ftjob-4", "created_at": 1, "status": "succeeded"}
    (tmp_path / "jobs" / "ftjob-4.json").write_text(json.dumps(job))
    (tmp_path / "jobs" / "ftjob-4.checkpoints.json").write_text(
        json.dumps([{"id": "ftckpt-4", "metrics": {"step": 1, "train_loss": 0.5, "valid_loss": None}}])
    )
    loaded = Storage(tmp_path)
    assert "expires_at" not in loaded.files["file-1"] and "status_details" not in loaded.files["file-1"]
    assert loaded.checkpoints["ftjob-4"][0]["metrics"] == {"step": 1, "train_loss": 0.5}


def test_pruning_keeps_the_last_checkpoints_and_deletes_the_others_files(tmp_path):
    storage = Storage(tmp_path)
    storage.save_job({"id": "ftjob-5", "created_at": 1, "status": "running"})
    for step in range(1, 6):
        directory = tmp_path / "models/ftjob-5" / ("final" if step == 5 else f"ckpt-step-{step}")
        directory.mkdir(parents=True)
        (directory / "weights").write_bytes(b"w")
        name = f"ft:m:local::5:ckpt-step-{step}"
        storage.add_model(
            {
                "id": name,
                "created": 1,
                "owned_by": "user",
                "base_model": "m",
                "job_id": "ftjob-5",
                "path": str(directory.relative_to(tmp_path)),
            }
        )
        storage.add_checkpoint(
            "ftjob-5", {"id": f"ftckpt-{step}", "step_number": step, "fine_tuned_model_checkpoint": name}
        )
    storage.add_model(
        {
            "id": "ft:m:local::5",
            "created": 1,
            "owned_by": "user",
            "base_model": "m",
            "job_id": "ftjob-5",
            "path": "models/ftjob-5/final",
        }
    )

    removed = storage.prune_checkpoints("ftjob-5", keep=3)

    assert [c["step_number"] for c in removed] == [1, 2]
    assert [c["step_number"] for c in Storage(tmp_path).checkpoints["ftjob-5"]] == [3, 4, 5]
    assert sorted(p.name for p in (tmp_path / "models/ftjob-5").iterdir()) == ["ckpt-step-3", "ckpt-step-4", "final"]
    assert "ft:m:local::5:ckpt-step-1" not in Storage(tmp_path).models and "ft:m:local::5" in storage.models
    assert storage.prune_checkpoints("ftjob-5", keep=3) == []
