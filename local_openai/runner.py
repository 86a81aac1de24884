"""The background job runner: validates training files, then trains queued jobs one at a time (by default).

Requests only create jobs and flip cancel flags; everything slow happens on the runner's threads. The runner owns
job status, events, checkpoints and the fine-tuned model records; trainers talk back only through TrainingContext.
"""

from __future__ import annotations

import csv
import io
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local_openai.job_record import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    VALIDATING_FILES,
    WAITING,
    FinishEstimate,
    checkpoint_id,
    checkpoint_model_name,
    fine_tuned_model_name,
    hyperparameter_fields,
    job_error,
)
from local_openai.storage import Storage, creation_order
from local_openai.trainers import get_trainer
from local_openai.trainers.base import ClientError, TrainingCancelled, TrainingContext

log = logging.getLogger(__name__)

# OpenAI's own wording for the event that marks the end of queueing; clients time training from it.
TRAINING_STARTED = "Fine-tuning job started"
# What a client sees when a job fails because of a fault of the server; the traceback goes to the server log only.
INTERNAL_ERROR = (
    "The job failed because of an internal error of the server (details are in the server log). "
    "Create a new job to retry."
)
# The results file's columns (OpenAI's step_metrics.csv) -> the names metrics events and checkpoints use.
CSV_COLUMNS = {
    "step": "step",
    "train_loss": "train_loss",
    "train_accuracy": "train_mean_token_accuracy",
    "valid_loss": "valid_loss",
    "valid_mean_token_accuracy": "valid_mean_token_accuracy",
}


class JobRunner:
    def __init__(
        self,
        storage: Storage,
        concurrent_jobs: int = 1,
        keep_checkpoints: int = 3,
        on_model_deleted: Callable[[str], None] = lambda _model_id: None,
    ):
        """Only the newest `keep_checkpoints` checkpoints of a job are kept; `on_model_deleted` unloads the others."""
        self.storage = storage
        self.keep_checkpoints = keep_checkpoints
        self._on_model_deleted = on_model_deleted
        self._validation: queue.Queue[str] = queue.Queue()
        self._training: queue.Queue[str] = queue.Queue()
        self._cancel: set[str] = set()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._validate_loop, name="ft-validate", daemon=True)] + [
            threading.Thread(target=self._train_loop, name=f"ft-train-{i}", daemon=True) for i in range(concurrent_jobs)
        ]

    def start(self) -> None:
        self._recover()
        for thread in self._threads:
            thread.start()

    def _recover(self) -> None:
        """Fail jobs a previous server process left running; re-queue those still waiting."""
        for job in sorted(self.storage.jobs.values(), key=creation_order):
            if job["status"] == RUNNING:
                self._fail(
                    job["id"],
                    "server_restarted",
                    "The server stopped while this job was training; the job failed. Create a new job to retry.",
                )
            elif job["status"] == VALIDATING_FILES:
                self._validation.put(job["id"])
            elif job["status"] == QUEUED:
                self._training.put(job["id"])

    # -- API-facing ------------------------------------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        self._validation.put(job_id)

    def cancel(self, job_id: str) -> dict:
        """Jobs not yet training end at once; a training job ends when its trainer next checks `should_stop`."""
        with self._lock:
            job = self.storage.jobs[job_id]
            if job["status"] in WAITING:
                self.storage.add_event(job_id, "Job cancelled before training started")
                return self._finish(job_id, CANCELLED)
            self._cancel.add(job_id)
            self.storage.add_event(job_id, "Cancellation requested; stopping after the current step")
            return job

    # -- threads ---------------------------------------------------------------------------------------------
    def _validate_loop(self) -> None:
        while True:
            job_id = self._validation.get()
            try:
                self._validate(job_id)
            except Exception:  # a bug must fail the job, not kill the thread
                log.exception("validation of %s crashed", job_id)
                self._fail(job_id, "internal_error", INTERNAL_ERROR)

    def _validate(self, job_id: str) -> None:
        with self._lock:
            job = self.storage.jobs[job_id]
            if job["status"] != VALIDATING_FILES:
                return
        for param in ("training_file", "validation_file"):
            file_id = job.get(param)
            if not file_id:
                continue
            if file_id not in self.storage.files:
                self._fail(
                    job_id,
                    "file_not_found",
                    f"{param} {file_id} was deleted before validation; upload it again",
                    param=param,
                )
                return
            report = self.storage.validate_training_file(file_id, min_examples=10 if param == "training_file" else 1)
            if not report.ok:
                with self._lock:
                    if self.storage.jobs[job_id]["status"] != VALIDATING_FILES:
                        return  # cancelled meanwhile
                self._fail(
                    job_id,
                    "invalid_training_file" if param == "training_file" else "invalid_validation_file",
                    f"{param} {file_id}: {report.error_message()}",
                    param=param,
                )
                return
            self.storage.add_event(
                job_id, f"Validated {param.replace('_', ' ')} {file_id}: {report.n_examples} examples"
            )
        with self._lock:
            if self.storage.jobs[job_id]["status"] != VALIDATING_FILES:
                return
            self.storage.update_job(job_id, status=QUEUED)
        self.storage.add_event(job_id, "Files validated, job queued")
        self._training.put(job_id)

    def _train_loop(self) -> None:
        while True:
            job_id = self._training.get()
            try:
                self._train(job_id)
            except TrainingCancelled:
                self.storage.add_event(job_id, "Job cancelled")
                self._finish(job_id, CANCELLED)
            except ClientError as exc:
                self._fail(job_id, exc.code, f"Training failed: {exc}", param=exc.param)
            except Exception:
                log.exception("training job %s failed", job_id)
                self._fail(job_id, "internal_error", INTERNAL_ERROR)
            finally:
                self._cancel.discard(job_id)

    def _train(self, job_id: str) -> None:
        with self._lock:
            job = self.storage.jobs[job_id]
            if job["status"] != QUEUED:
                return
            job = self.storage.update_job(job_id, status=RUNNING)
        self.storage.add_event(job_id, TRAINING_STARTED)
        trainer = get_trainer(job["model"])
        if trainer is None:
            raise ClientError(
                f"base model {job['model']} is no longer available on this server",
                code="model_not_available",
                param="model",
            )
        examples = self.storage.training_examples(job["training_file"])
        validation = self.storage.training_examples(job["validation_file"]) if job.get("validation_file") else []
        hp = trainer.resolve_hyperparameters(job["_requested_hyperparameters"], len(examples))
        job = self.storage.update_job(job_id, **hyperparameter_fields(hp.as_dict()))
        self.storage.add_event(
            job_id,
            f"Fine-tuning {job['model']} on {len(examples)} examples: {hp.n_epochs} epoch(s), "
            f"batch size {hp.batch_size}, learning rate multiplier {hp.learning_rate_multiplier}",
        )
        log.info("job %s training %s on %d examples (%s)", job_id, job["model"], len(examples), job["hyperparameters"])
        output_dir = self.storage.model_dir(job_id, "final")
        shutil.rmtree(output_dir.parent, ignore_errors=True)
        output_dir.parent.mkdir(parents=True)
        metrics: list[dict] = []
        started = time.monotonic()
        estimate = FinishEstimate(started_at=time.time())

        def log_event(message: str) -> None:
            self.storage.add_event(job_id, message)

        ctx = TrainingContext(
            output_dir=output_dir,
            hyperparameters=hp,
            seed=job["seed"],
            validation_examples=validation,
            report=lambda *args, **values: self._report(job_id, metrics, estimate, *args, **values),
            log=log_event,
            checkpoint=lambda epoch, step, directory: self._checkpoint(job, epoch, step, Path(directory), metrics),
            should_stop=lambda: job_id in self._cancel,
        )
        result = trainer.train(examples, ctx)
        if job_id in self._cancel:
            raise TrainingCancelled()
        results_file = self.storage.add_file("step_metrics.csv", "fine-tune-results", _metrics_csv(metrics))
        name = fine_tuned_model_name(job)
        self._add_model(name, job, output_dir)
        seconds = time.monotonic() - started
        self.storage.add_event(job_id, f"New fine-tuned model created: {name}")
        self.storage.add_event(
            job_id,
            f"The job has successfully completed in {seconds:.1f} s",
            data={"training_seconds": round(seconds, 2)},
        )
        self._finish(
            job_id,
            SUCCEEDED,
            fine_tuned_model=name,
            trained_tokens=result.trained_tokens,
            result_files=[results_file["id"]],
        )

    def _report(
        self,
        job_id: str,
        metrics: list[dict],
        estimate: FinishEstimate,
        step: int,
        total_steps: int,
        train_loss: float,
        train_accuracy: float | None = None,
        valid_loss: float | None = None,
        **extra: float,
    ) -> None:
        parts = [f"Step {step}/{total_steps}: training loss={train_loss:.4f}"]
        if train_accuracy is not None:
            parts.append(f"training accuracy={train_accuracy:.3f}")
        if valid_loss is not None:
            parts.append(f"validation loss={valid_loss:.4f}")
        if extra.get("valid_accuracy") is not None:
            parts.append(f"validation accuracy={extra['valid_accuracy']:.3f}")
        data = {
            "step": step,
            "total_steps": total_steps,
            "train_loss": train_loss,
            "train_mean_token_accuracy": train_accuracy,
            "valid_loss": valid_loss,
            "valid_mean_token_accuracy": extra.get("valid_accuracy"),
        }
        metrics.append(data)
        self.storage.add_event(job_id, ", ".join(parts), data=data)
        estimated_finish = estimate.update(step, total_steps, time.time())
        if estimated_finish is not None:
            self.storage.update_job(job_id, estimated_finish=estimated_finish)

    def _checkpoint(self, job: dict, epoch: int, step: int, directory: Path, metrics: list[dict]) -> None:
        target = self.storage.model_dir(job["id"], f"ckpt-step-{step}")
        if (
            directory.resolve() != self.storage.model_dir(job["id"], "final").resolve()
            and directory.resolve() != target.resolve()
        ):
            shutil.move(directory, target)  # taken over, not copied: a trainer's scratch copy would never be pruned
            directory = target
        name = checkpoint_model_name(job, step)
        measured = {**(metrics[-1] if metrics else {}), "step": step}
        self._add_model(name, job, directory)
        self.storage.add_checkpoint(
            job["id"],
            {
                "id": checkpoint_id(job, step),
                "object": "fine_tuning.job.checkpoint",
                "created_at": int(time.time()),
                "fine_tuned_model_checkpoint": name,
                "fine_tuning_job_id": job["id"],
                # A metric not measured (no validation file) is omitted: OpenAI's schema types each one as a number.
                "step_number": step,
                "metrics": {
                    key: value for key, value in measured.items() if key != "total_steps" and value is not None
                },
            },
        )
        self.storage.add_event(job["id"], f"Checkpoint created at step {step} (epoch {epoch}): {name}")
        for removed in self.storage.prune_checkpoints(job["id"], self.keep_checkpoints):
            self._on_model_deleted(removed["fine_tuned_model_checkpoint"])
            self.storage.add_event(
                job["id"],
                f"Checkpoint {removed['fine_tuned_model_checkpoint']} removed: only the "
                f"last {self.keep_checkpoints} checkpoints are kept",
            )

    def _add_model(self, name: str, job: dict, directory: Path) -> None:
        """Register a trained model directory under the data dir as the model `name`, usable for chat at once."""
        self.storage.add_model(
            {
                "id": name,
                "object": "model",
                "created": int(time.time()),
                "owned_by": "user",
                "base_model": job["model"],
                "job_id": job["id"],
                "path": str(directory.relative_to(self.storage.root)),
            }
        )

    # -- endings ---------------------------------------------------------------------------------------------
    def _fail(self, job_id: str, code: str, message: str, param: str | None = None) -> None:
        self.storage.add_event(job_id, message, level="error")
        self._finish(job_id, FAILED, error=job_error(code, message, param))

    def _finish(self, job_id: str, status: str, **fields: Any) -> dict:
        log.info("job %s %s%s", job_id, status, f": {fields['error']['message']}" if fields.get("error") else "")
        return self.storage.update_job(
            job_id, status=status, finished_at=int(time.time()), estimated_finish=None, **fields
        )


def _metrics_csv(metrics: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS))
    writer.writeheader()
    for row in metrics:
        writer.writerow({column: "" if row.get(key) is None else row[key] for column, key in CSV_COLUMNS.items()})
    return out.getvalue().encode()
