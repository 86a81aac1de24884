"""Everything the server persists under --data-dir, as plain JSON files, kept in memory and written through.

Layout: files/<id>.json + files/<id>.bin, jobs/<id>.json, jobs/<id>.events.jsonl, jobs/<id>.checkpoints.json,
models/index.json (fine-tuned and checkpoint model records), models/<job_id>/... (trained model directories).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import BinaryIO

from shared.jsonl import JsonlLimits, Message, ValidationReport, iter_lines, read_chat_examples, validate_chat_jsonl

log = logging.getLogger(__name__)
COPY_CHUNK_BYTES = 1024 * 1024


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def public(record: dict) -> dict:
    """An API object without the server's private fields (names starting with `_`)."""
    return {key: value for key, value in record.items() if not key.startswith("_")}


def creation_order(record: dict) -> tuple:
    return record["created_at"], record.get("_created_ns", 0)


def _write_json(path: Path, value: object) -> None:
    """Atomic replace, so a crash never leaves a half-written record."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


def _without_nulls(record: dict, names: tuple[str, ...]) -> dict:
    """`record` without the keys in `names` whose value is None: OpenAI's schema omits them rather than null them."""
    return {key: value for key, value in record.items() if not (key in names and value is None)}


def _read_events(path: Path) -> list[dict]:
    """Events are appended line by line; a crash mid-append leaves a torn last line, which is skipped."""
    events = []
    with open(path, "rb") as handle:
        for line in iter_lines(handle):
            try:
                events.append(json.loads(line.data))
            except ValueError:  # a torn line is not JSON, or not UTF-8 when cut inside a character
                log.warning("%s line %d is not a complete event (torn write?); skipped", path, line.number)
    return events


class Storage:
    def __init__(self, data_dir: Path, jsonl_limits: JsonlLimits = JsonlLimits()):
        self.root = Path(data_dir)
        self.jsonl_limits = jsonl_limits
        for sub in ("files", "jobs", "models"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.files: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}
        self.checkpoints: dict[str, list[dict]] = {}
        self.models: dict[str, dict] = {}
        self._load()

    # -- loading ---------------------------------------------------------------------------------------------
    def _load(self) -> None:
        for path in (self.root / "files").glob("*.json"):
            # Older versions wrote null expires_at/status_details; OpenAI's schema types them integer and string.
            record = _without_nulls(json.loads(path.read_text()), ("expires_at", "status_details"))
            self.files[record["id"]] = record
        for path in (self.root / "jobs").glob("*.json"):
            if path.name.endswith(".checkpoints.json"):
                continue
            job = json.loads(path.read_text())
            self.jobs[job["id"]] = job
            events_path = self.root / "jobs" / f"{job['id']}.events.jsonl"
            self.events[job["id"]] = _read_events(events_path) if events_path.exists() else []
            ckpt_path = self.root / "jobs" / f"{job['id']}.checkpoints.json"
            checkpoints = json.loads(ckpt_path.read_text()) if ckpt_path.exists() else []
            for checkpoint in checkpoints:  # older versions wrote unmeasured metrics as null
                if "metrics" in checkpoint:
                    checkpoint["metrics"] = {k: v for k, v in checkpoint["metrics"].items() if v is not None}
            self.checkpoints[job["id"]] = checkpoints
        index = self.root / "models" / "index.json"
        if index.exists():
            self.models = json.loads(index.read_text())

    # -- files -----------------------------------------------------------------------------------------------
    def add_file(self, filename: str, purpose: str, content: bytes | BinaryIO) -> dict:
        """Store bytes, or copy a binary stream (an upload) to disk in chunks without holding it in memory."""
        file_id = new_id("file")
        path = self.root / "files" / f"{file_id}.bin"
        try:
            with open(path, "wb") as handle:
                if isinstance(content, bytes):
                    handle.write(content)
                else:
                    shutil.copyfileobj(content, handle, COPY_CHUNK_BYTES)
        except BaseException:  # e.g. the client went away mid-upload: leave no orphan behind
            path.unlink(missing_ok=True)
            raise
        record = {
            "id": file_id,
            "object": "file",
            "bytes": path.stat().st_size,
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "_created_ns": time.time_ns(),  # orders objects created within the same second
        }
        with self._lock:
            _write_json(self.root / "files" / f"{file_id}.json", record)
            self.files[file_id] = record
        return record

    def file_content(self, file_id: str) -> bytes:
        return (self.root / "files" / f"{file_id}.bin").read_bytes()

    def open_file(self, file_id: str) -> BinaryIO:
        return open(self.root / "files" / f"{file_id}.bin", "rb")

    def validate_training_file(self, file_id: str, min_examples: int) -> ValidationReport:
        """Validate a stored JSONL file streaming from disk, in memory bounded by `jsonl_limits`."""
        with self.open_file(file_id) as handle:
            return validate_chat_jsonl(handle, min_examples, self.jsonl_limits)

    def training_examples(self, file_id: str) -> list[list[Message]]:
        """The valid examples of a stored JSONL file (validated before training, with the same limits)."""
        with self.open_file(file_id) as handle:
            return read_chat_examples(handle, limits=self.jsonl_limits)[0]

    def delete_file(self, file_id: str) -> None:
        with self._lock:
            self.files.pop(file_id, None)
            for suffix in (".json", ".bin"):
                (self.root / "files" / f"{file_id}{suffix}").unlink(missing_ok=True)

    # -- jobs, events, checkpoints ---------------------------------------------------------------------------
    def save_job(self, job: dict) -> None:
        with self._lock:
            self.jobs[job["id"]] = job
            self.events.setdefault(job["id"], [])
            self.checkpoints.setdefault(job["id"], [])
            _write_json(self.root / "jobs" / f"{job['id']}.json", job)

    def update_job(self, job_id: str, **fields: object) -> dict:
        with self._lock:
            job = dict(self.jobs[job_id], **fields)
            self.save_job(job)
            return job

    def add_event(self, job_id: str, message: str, level: str = "info", data: dict | None = None) -> dict:
        event = {
            "id": new_id("ftevent"),
            "object": "fine_tuning.job.event",
            "created_at": int(time.time()),
            "level": level,
            "message": message,
            "data": data or {},
            "type": "metrics" if data and "step" in data else "message",
        }
        with self._lock:
            self.events.setdefault(job_id, []).append(event)
            with open(self.root / "jobs" / f"{job_id}.events.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(event) + "\n")
        return event

    def add_checkpoint(self, job_id: str, checkpoint: dict) -> None:
        with self._lock:
            self.checkpoints.setdefault(job_id, []).append(checkpoint)
            _write_json(self.root / "jobs" / f"{job_id}.checkpoints.json", self.checkpoints[job_id])

    def prune_checkpoints(self, job_id: str, keep: int) -> list[dict]:
        """Drop all but the newest `keep` checkpoints of a job, with their model records and files; the removed."""
        with self._lock:
            checkpoints = self.checkpoints.get(job_id, [])
            removed, kept = checkpoints[:-keep], checkpoints[-keep:]
            if not removed:
                return []
            self.checkpoints[job_id] = kept
            _write_json(self.root / "jobs" / f"{job_id}.checkpoints.json", kept)
            for checkpoint in removed:
                if checkpoint["fine_tuned_model_checkpoint"] in self.models:
                    self.delete_model(checkpoint["fine_tuned_model_checkpoint"])
            return removed

    # -- models ----------------------------------------------------------------------------------------------
    def model_dir(self, job_id: str, name: str) -> Path:
        return self.root / "models" / job_id / name

    def add_model(self, record: dict) -> None:
        """record: id, created, owned_by, base_model, job_id, path (relative to data dir)."""
        with self._lock:
            self.models[record["id"]] = record
            _write_json(self.root / "models" / "index.json", self.models)

    def delete_model(self, model_id: str) -> None:
        with self._lock:
            record = self.models.pop(model_id)
            _write_json(self.root / "models" / "index.json", self.models)
            # The final model and its last checkpoint share a directory; keep it while either still exists.
            if not any(other["path"] == record["path"] for other in self.models.values()):
                shutil.rmtree(self.root / record["path"], ignore_errors=True)

    def model_path(self, model_id: str) -> Path:
        return self.root / self.models[model_id]["path"]
