"""Logging finished experiments to MLflow (MLFLOW_TRACKING_URI): one MLflow run per tunequeue run, under an MLflow
experiment named `tunequeue/<experiment id>`, with the run's params, metrics (the loss curve by step), tags and two
artifacts (its predictions CSV and the experiment record JSON).

MLflow is optional: it is imported only when a URI is set, and a store that is down, unreachable or unwritable never
fails an experiment. The outcome (`MlflowLog`) is kept on the record, where the page shows it, with the URI's
password masked in the URI and in the error.

Logging is idempotent because the summarize task may run twice (a redelivered message): a run already logged (found
by its `tunequeue.run` and `tunequeue.finished_at` tags) is kept; one left unfinished by an interrupted attempt, or
logged before the run was retried and finished again, is deleted and logged again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from shared.export import build_manifest, item_texts, predictions_csv
from shared.record_types import ExperimentRecord, MlflowLog, Run
from shared.records import now_iso
from shared.settings import Settings, redact_url
from shared.store import Store

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run as MlflowRun

log = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "tunequeue/"
RUN_STATUSES = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}
"""tunequeue's finished run statuses as MLflow's."""
SCALAR_METRICS = ("accuracy", "macro_f1", "invalid", "n")
INTERVAL_METRICS = ("accuracy_ci95", "macro_f1_ci95")
"""[low, high] pairs, logged as `<name>_low` and `<name>_high`."""
RUN_NUMBERS = ("training_seconds", "trained_tokens", "cost_estimate_usd", "cost_usd")
LOSS_KEYS = ("train_loss", "valid_loss")
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
"""MLflow's limits on one `log_batch` call."""
MAX_TEXT_CHARS = 5000
"""Longer tags and errors are cut (MLflow refuses tag values past 8000 characters)."""


def mlflow_experiment_name(exp_id: str) -> str:
    return EXPERIMENT_PREFIX + exp_id


def prompt_sha256(prompt: Mapping[str, Any]) -> str:
    """sha256 of the record's prompt as canonical JSON: runs with the same prompt share it across experiments."""
    canonical = json.dumps(prompt, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def run_params(record: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, str]:
    """What the run was: base model, kind, hyperparameters (fine-tuned runs only), prompt, dataset and split."""
    params: dict[str, object] = {"base_model": run["base_model"], "kind": run["kind"]}
    if run.get("evaluated_model"):
        params["evaluated_model"] = run["evaluated_model"]
    if run["kind"] == "fine-tuned":
        params.update(record["hyperparameters"])
    prompt = record["prompt"]
    params.update(
        {
            "prompt.preset": prompt["preset"],
            "prompt.sha256": prompt_sha256(prompt),
            "prompt.temperature": prompt["temperature"],
            "prompt.max_tokens": prompt["max_tokens"],
        }
    )
    dataset = record["dataset"]
    params.update(
        {
            "dataset.name": dataset["name"],
            "dataset.sha256": dataset["sha256"],
            "dataset.text_column": dataset["columns"]["text"],
            "dataset.label_column": dataset["columns"]["label"],
        }
    )
    params.update({f"split.{key}": value for key, value in record["sampling"].items()})
    split = record.get("split")
    if split:
        params.update(
            {"split.n_train": sum(split["train_counts"].values()), "split.n_test": sum(split["test_counts"].values())}
        )
    params["provider.base_url"] = redact_url(record["provider"]["base_url"])
    return {key: _param_text(value) for key, value in params.items()}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def run_metrics(run: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    """(key, value, step): the scores and their 95 % intervals, training figures, and the loss curve by step."""
    metrics = run.get("metrics") or {}
    found: list[tuple[str, float | None, int]] = [(key, _number(metrics.get(key)), 0) for key in SCALAR_METRICS]
    for key in INTERVAL_METRICS:
        interval = metrics.get(key)
        if isinstance(interval, Sequence) and len(interval) == 2:
            found += [(f"{key}_low", _number(interval[0]), 0), (f"{key}_high", _number(interval[1]), 0)]
    found += [(key, _number(run.get(key)), 0) for key in RUN_NUMBERS]
    for point in run.get("loss_curve") or []:
        step = point.get("step")
        if isinstance(step, int):
            found += [(key, _number(point.get(key)), step) for key in LOSS_KEYS]
    return [(key, value, step) for key, value, step in found if value is not None]


def run_tags(record: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, str]:
    tags = {"tunequeue.experiment": record["id"], "tunequeue.run": run["id"], "tunequeue.status": run["status"]}
    for key in ("finished_at", "fine_tuned_model", "job_id", "error"):
        if run.get(key):
            tags[f"tunequeue.{key}"] = str(run[key])[:MAX_TEXT_CHARS]
    return tags


def _epoch_ms(iso: str | None) -> int | None:
    return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else None


def _artifact_location(tracking_uri: str) -> str | None:
    """For a sqlite store, artifacts go to `mlartifacts/` beside the database file (MLflow's default is ./mlruns
    in the worker's working directory); any other store decides for itself."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(unquote(tracking_uri[len("sqlite:///") :].split("?", 1)[0]))
    return (database.resolve().parent / "mlartifacts").as_uri()


def _experiment_id(client: MlflowClient, record: Mapping[str, Any], name: str, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(
        client.create_experiment(
            name,
            artifact_location=_artifact_location(tracking_uri),
            tags={"tunequeue.experiment": record["id"], "tunequeue.dataset_sha256": record["dataset"]["sha256"]},
        )
    )


def _log_run(
    client: MlflowClient,
    experiment_id: str,
    record: ExperimentRecord,
    run: Run,
    texts: Mapping[int, str] | None,
    logged: MlflowRun | None,
) -> str:
    """The MLflow run id of `run`, logged now unless an earlier attempt finished logging this same finish of it."""
    from mlflow.entities import Metric, Param

    if logged is not None:
        same_finish = logged.data.tags.get("tunequeue.finished_at") == run.get("finished_at")
        if same_finish and logged.info.status in RUN_STATUSES.values():
            return str(logged.info.run_id)
        client.delete_run(logged.info.run_id)
    created = client.create_run(
        experiment_id,
        start_time=_epoch_ms(run.get("created_at")),
        tags=run_tags(record, run),
        run_name=f"{run['id']} {run['base_model']}",
    )
    run_id = str(created.info.run_id)
    params = [Param(key, value) for key, value in run_params(record, run).items()]
    for start in range(0, len(params), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[start : start + MAX_PARAMS_PER_BATCH])
    at = _epoch_ms(run.get("finished_at")) or int(time.time() * 1000)
    metrics = [Metric(key, value, at, step) for key, value, step in run_metrics(run)]
    for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH])
    this_run: ExperimentRecord = {**record, "runs": [run]}
    client.log_text(run_id, predictions_csv(this_run, texts).decode("utf-8"), "predictions.csv")
    client.log_text(
        run_id,
        json.dumps({"manifest": build_manifest(record), "record": record}, ensure_ascii=False, indent=2),
        "record.json",
    )
    client.set_terminated(run_id, RUN_STATUSES[run["status"]], end_time=_epoch_ms(run.get("finished_at")))
    return run_id


def _error_text(exc: BaseException, tracking_uri: str) -> str:
    """The error as shown on the record: MLflow's messages repeat the URI, password included."""
    text = f"{type(exc).__name__}: {exc}"
    password = urlsplit(tracking_uri).password
    if password:
        for secret in {password, unquote(password)}:
            text = text.replace(secret, "***")
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


def log_experiment(record: ExperimentRecord, tracking_uri: str, texts: Mapping[int, str] | None = None) -> MlflowLog:
    """Log every finished run of `record` (with predictions) to the MLflow store at `tracking_uri`; `texts` maps
    test rows to their text for the predictions CSV. Never raises: a failure is the returned log's `error`."""
    name = mlflow_experiment_name(record["id"])
    outcome: MlflowLog = {
        "status": "logged",
        "tracking_uri": redact_url(tracking_uri),
        "experiment_name": name,
        "experiment_id": None,
        "runs": {},
        "error": None,
        "logged_at": now_iso(),
    }
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri)
        experiment_id = _experiment_id(client, record, name, tracking_uri)
        outcome["experiment_id"] = experiment_id
        logged = {
            run.data.tags.get("tunequeue.run"): run for run in client.search_runs([experiment_id], max_results=1000)
        }
        for run in record["runs"]:
            if run["status"] in RUN_STATUSES:
                outcome["runs"][run["id"]] = _log_run(client, experiment_id, record, run, texts, logged.get(run["id"]))
    except Exception as exc:  # noqa: BLE001 - MLflow's failures are many kinds (HTTP, SQL, OS); none may fail the experiment
        outcome["status"], outcome["error"] = "failed", _error_text(exc, tracking_uri)
    return outcome


def bound_http_requests(settings: Settings) -> None:
    """MLflow's HTTP client reads its retry policy from the environment at each request, and its defaults (7 retries
    with backoff factor 2, a 120 s timeout: minutes against a server that is down) would hold the summarize task
    past the broker visibility timeout. Unless the operator set MLflow's variables, use the bounds the settings
    already check for provider calls (TQ_MAX_RETRIES, TQ_REQUEST_TIMEOUT_S) with backoff factor 1."""
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    for variable, value in (
        (MLFLOW_HTTP_REQUEST_MAX_RETRIES, settings.max_retries),
        (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, 1),
        (MLFLOW_HTTP_REQUEST_TIMEOUT, max(1, math.ceil(settings.request_timeout_s))),
    ):
        if not variable.defined:
            variable.set(value)  # type: ignore[no-untyped-call]


def track(store: Store, exp_id: str, settings: Settings) -> MlflowLog | None:
    """The step after summarize: log the finished experiment to MLflow when MLFLOW_TRACKING_URI is set, and keep the
    outcome on the record (an event too: info when logged, a warning with the reason when not)."""
    if settings.mlflow_tracking_uri is None:
        return None
    record = store.get_experiment(exp_id)
    if record is None:
        return None
    bound_http_requests(settings)
    texts = item_texts(store.get_items(exp_id))
    outcome = log_experiment(record, settings.mlflow_tracking_uri, texts)
    store.update_experiment(exp_id, mlflow=outcome)
    where = f"MLflow experiment {outcome['experiment_name']} at {outcome['tracking_uri']}"
    if outcome["error"] is None:
        store.add_event(exp_id, None, f"logged {len(outcome['runs'])} runs to {where}")
    else:
        log.warning("%s: not logged to %s: %s", exp_id, where, outcome["error"])
        store.add_event(
            exp_id,
            None,
            f"not logged to {where} (the results here are complete; check "
            f"MLFLOW_TRACKING_URI and the tracking server): {outcome['error']}",
            level="warning",
        )
    return outcome
