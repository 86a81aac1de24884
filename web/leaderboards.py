"""A dataset's page (`/datasets/<sha256>`): every finished run on it as a leaderboard, linking to `/compare`."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from shared.comparison import MAX_COMPARED_RUNS
from shared.leaderboard import leaderboard
from web.store import get_store

bp = Blueprint("leaderboards", __name__)


@bp.get("/datasets/<sha256>")
def show(sha256: str) -> str:
    store = get_store()
    records = store.experiments_using(sha256)
    name = store.dataset_name(sha256)
    if name is None and not records:
        abort(
            404,
            description=f"There is no dataset {sha256}: it was never uploaded, or was deleted and no "
            f"experiment used it. Upload it from New experiment.",
        )
    return render_template(
        "datasets/show.html",
        sha256=sha256,
        name=name or records[0]["dataset"]["name"],
        stored=name is not None,
        n_experiments=len(records),
        boards=leaderboard(records, sha256),
        max_runs=MAX_COMPARED_RUNS,
    )
