"""Ids in URLs: a malformed experiment id, run id or dataset hash is a 404 before any view, or Redis, sees it.

Every route that names an experiment has an `exp_id` argument, every route that names a run a `run_id` one and
every route that names a dataset a `sha256` one, so one check after authentication covers pages, results, charts,
exports and the API alike; the shapes themselves are checked by `shared.records` (the same check the store and the
CLI use).
"""

from __future__ import annotations

from flask import Flask, abort, request

from shared.records import (
    is_dataset_hash,
    is_experiment_id,
    is_run_id,
    not_a_dataset_hash,
    not_a_run_id,
    not_an_experiment_id,
)


def check_url_ids() -> None:
    values = request.view_args or {}
    if "exp_id" in values and not is_experiment_id(values["exp_id"]):
        abort(404, description=f"There is no experiment {not_an_experiment_id(values['exp_id'])}.")
    if "run_id" in values and not is_run_id(values["run_id"]):
        abort(404, description=f"There is no such run: {not_a_run_id(values['run_id'])}.")
    if "sha256" in values and not is_dataset_hash(values["sha256"]):
        abort(404, description=f"There is no such dataset: {not_a_dataset_hash(values['sha256'])}.")


def init_app(app: Flask) -> None:
    """Register the check; call after `web.security.init_app`, so an unauthenticated caller learns nothing."""
    app.before_request(check_url_ids)
