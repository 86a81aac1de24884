"""Reaching the stored experiments from the shell: the Redis of the settings, a checked id, an existing record."""

from __future__ import annotations

from shared.record_types import ExperimentRecord
from shared.records import is_experiment_id, not_an_experiment_id
from shared.settings import get_settings, redact_url
from shared.store import Store
from worker.commands.errors import CliError


def connect_store() -> Store:
    from worker.stack import redis_reachable

    url = get_settings().redis_url
    if not redis_reachable(url):
        raise CliError(
            f"Redis is not reachable at {redact_url(url)}: start the stack with `make up` (or `python -m "
            f"worker.redis_server`), or set REDIS_URL to a running Redis"
        )
    return Store.from_url(url)


def checked_id(exp_id: str) -> str:
    """The id itself, refused before any connection when it is not of the form exp_<12 hex>."""
    if not is_experiment_id(exp_id):
        raise CliError(not_an_experiment_id(exp_id))
    return exp_id


def find_record(store: Store, exp_id: str, with_predictions: bool = True) -> ExperimentRecord:
    record = store.get_experiment(exp_id, with_predictions=with_predictions)
    if record is None:
        raise CliError(
            f"no experiment {exp_id!r} in Redis at {redact_url(get_settings().redis_url)}; ids look like "
            f"exp_0123456789ab (the web page lists them)"
        )
    return record
