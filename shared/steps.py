"""Re-exports of the pipeline steps for callers not yet moved to their modules.

The steps live in `shared.prepare`, `shared.upload`, `shared.fine_tune_job`, `shared.evaluate` and `shared.summary`,
what they record on failure in `shared.run_state`. This module goes once tests/web and tests/local_openai import
from those directly.
"""

from __future__ import annotations

from shared.evaluate import finish_evaluation
from shared.fine_tune_job import poll_fine_tune, start_fine_tune
from shared.prepare import prepare
from shared.run_state import StepError, fail_run
from shared.summary import summarize
from shared.upload import upload

__all__ = [
    "StepError",
    "fail_run",
    "finish_evaluation",
    "poll_fine_tune",
    "prepare",
    "start_fine_tune",
    "summarize",
    "upload",
]
