"""Datasets and the new-experiment form around them: upload, preview, column summaries, the pre-launch check."""

from __future__ import annotations

import logging
from pathlib import PurePath

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from shared.dataset_formats import ACCEPTED_EXTENSIONS
from shared.dataset_reading import DatasetError, check_table, summarize
from shared.estimates import Report
from shared.prompts import PRESETS
from shared.records import check_columns
from shared.store import DatasetQuotaExceeded, NotFound
from web.experiment_form import Draft, UploadedDataset, default_values, initial_draft, preview
from web.health import provider_warnings
from web.provider import available_models
from web.store import get_store

log = logging.getLogger(__name__)
bp = Blueprint("datasets", __name__, url_prefix="/datasets")


def store_upload(upload: FileStorage | None) -> UploadedDataset:
    """Check that an uploaded file is readable in the format its name says and keep it in Redis under that name;
    raises DatasetError otherwise, and DatasetQuotaExceeded when storing it would pass TQ_DATASET_QUOTA_BYTES."""
    if upload is None or not upload.filename:
        raise DatasetError(
            f"No file was chosen. Choose a data file ({ACCEPTED_EXTENSIONS}) with named columns, then upload it."
        )
    data = upload.read()
    name = PurePath(upload.filename.replace("\\", "/")).name
    check_columns(check_table(data, name), current_app.config["SETTINGS"])
    sha256 = get_store().put_dataset(data, name, quota_bytes=current_app.config["SETTINGS"].dataset_quota_bytes)
    log.info("dataset %s uploaded (%s, %d bytes)", sha256[:12], name, len(data))
    return UploadedDataset(sha256=sha256, name=name, data=data)


def load_dataset(sha256: str) -> UploadedDataset:
    """An uploaded dataset by hash, or a 404 saying to upload it again."""
    store = get_store()
    try:
        data = store.get_dataset(sha256)
    except NotFound as exc:
        abort(404, description=f"{exc}.")
    return UploadedDataset(sha256=sha256, name=store.dataset_name(sha256) or sha256[:12], data=data)


def render_new_form(
    dataset: UploadedDataset | None,
    draft: Draft | None = None,
    report: Report | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    """The new-experiment page: upload, then (with a dataset) preview, every setting and the pre-launch check."""
    dataset_view = None
    if dataset is not None:
        try:
            dataset_view = preview(dataset)
        except DatasetError as exc:
            errors = {**(errors or {}), "file": str(exc)}
            dataset = None
    if dataset is not None and draft is None:
        draft = initial_draft(dataset, current_app.config["SETTINGS"])
    models, models_error = available_models()
    base_models = [model for model in models if not model.startswith("ft:")]
    values = (draft.values if draft else default_values()).copy()
    # Models without a checkbox go back into the free-text fields, so a re-rendered form keeps them.
    values["models_other"] = ", ".join(m for m in values["models"] if m not in base_models)
    values["zero_shot_other"] = ", ".join(m for m in values["zero_shot"] if m not in models)
    counts = draft.counts if draft else None
    sampling_labels = sorted(set(counts or {}) | set(values["train_counts"]) | set(values["test_counts"]))
    return render_template(
        "experiments/new.html",
        datasets=get_store().list_datasets(),
        dataset=dataset_view,
        values=values,
        counts=counts,
        sampling_labels=sampling_labels,
        errors={**(draft.errors if draft else {}), **(errors or {})},
        report=report,
        presets={name: preset.to_dict() for name, preset in PRESETS.items()},
        base_models=base_models,
        available_models=models,
        models_error=models_error,
        provider_warnings=provider_warnings() if dataset is not None else [],
    )


@bp.post("")
def upload() -> ResponseReturnValue:
    try:
        dataset = store_upload(request.files.get("file"))
    except DatasetError as exc:
        return render_new_form(None, errors={"file": str(exc)}), 400
    except DatasetQuotaExceeded as exc:
        return render_new_form(None, errors={"file": str(exc)}), 507
    flash(f"Uploaded {dataset.name}.")
    return redirect(url_for("experiments.new", dataset=dataset.sha256))


@bp.get("/<sha256>/summary.json")
def summary(sha256: str) -> ResponseReturnValue:
    """Class counts for a choice of columns, for the form's live class-count list."""
    dataset = load_dataset(sha256)
    try:
        result = summarize(
            dataset.data, request.args.get("text_column", ""), request.args.get("label_column", ""), dataset.name
        )
    except DatasetError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(
        n_rows=result.n_rows, n_items=result.n_items, dropped=len(result.dropped_rows), class_counts=result.class_counts
    )
