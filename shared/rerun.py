"""Re-running an experiment: a new experiment over the same dataset, columns, sampling, prompt and hyperparameters,
optionally with other models or another fine-tuning seed.

The sampling is never changed, so the re-run is scored on the same test items as the original and the two can be
compared item by item (`/api/compare`). `seed` is the fine-tuning seed (the record's `hyperparameters.seed`): a
re-run with another seed measures how much a score moves by chance alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal

from shared.record_types import ExperimentRecord
from shared.records import ExperimentSpec, RecordError, spec_from_record
from shared.settings import Settings

SAME: Final = "same"
"""A `RerunChanges.seed` that keeps the original experiment's seed."""
CHANGEABLE: Final = ("models", "zero_shot", "seed")


@dataclass(frozen=True)
class RerunChanges:
    """What differs from the original: `None` models keep the original's; `seed` SAME keeps its seed, None drops
    it (the provider chooses)."""

    models: list[str] | None = None
    zero_shot: list[str] | None = None
    seed: int | None | Literal["same"] = SAME


def _model_list(body: Mapping[str, object], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(model, str) and model.strip() for model in value):
        raise RecordError(f"'{key}' must be a list of model names, e.g. [\"local-tfidf\"] ([] for none)", key)
    return [model.strip() for model in value]


def rerun_changes(body: Mapping[str, object]) -> RerunChanges:
    """The changes a re-run request asks for (the JSON body of `POST /api/experiments/<id>/rerun`); raises
    RecordError naming the field at fault."""
    unknown = sorted(set(body) - set(CHANGEABLE))
    if unknown:
        raise RecordError(
            f"a re-run cannot change {', '.join(unknown)}; it keeps the dataset, sampling and prompt "
            f"of the original and takes only {', '.join(CHANGEABLE)}",
            unknown[0],
        )
    seed: int | None | Literal["same"] = SAME
    if "seed" in body:
        given = body["seed"]
        if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 0):
            raise RecordError(f"'seed' must be a whole number of at least 0 (or null for none), not {given!r}", "seed")
        seed = given
    return RerunChanges(models=_model_list(body, "models"), zero_shot=_model_list(body, "zero_shot"), seed=seed)


def rerun_spec(record: ExperimentRecord, changes: RerunChanges, settings: Settings | None = None) -> ExperimentSpec:
    """The spec of the re-run: the original's, with `changes` applied and the caps of `settings` checked."""
    spec = spec_from_record(record)
    hyperparameters = dict(spec.hyperparameters)
    if changes.seed != SAME:
        hyperparameters["seed"] = changes.seed
    return replace(
        spec,
        models=spec.models if changes.models is None else list(changes.models),
        zero_shot=spec.zero_shot if changes.zero_shot is None else list(changes.zero_shot),
        hyperparameters=hyperparameters,
        settings=settings,
    )
