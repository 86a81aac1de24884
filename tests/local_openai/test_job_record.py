"""`FinishEstimate`: a training job's `estimated_finish` from its progress reports, written at most once a second."""

from __future__ import annotations

from local_openai.job_record import FinishEstimate


def test_the_first_report_estimates_from_the_time_since_training_started():
    estimate = FinishEstimate(started_at=1000.0)
    assert estimate.update(step=2, total_steps=10, now=1004.0) == 1004 + 2 * 8  # 2 s a step so far


def test_later_reports_pace_the_steps_after_the_first_one():
    """Loading the base model (here 30 s before step 1) is not counted per step."""
    estimate = FinishEstimate(started_at=1000.0)
    assert estimate.update(step=1, total_steps=11, now=1030.0) == 1030 + 30 * 10
    assert estimate.update(step=6, total_steps=11, now=1035.0) == 1035 + 5  # 1 s a step since step 1
    assert estimate.update(step=11, total_steps=11, now=1041.0) == 1041  # the last step: now


def test_the_estimate_is_written_at_most_every_second_and_only_when_it_moved():
    estimate = FinishEstimate(started_at=1000.0)
    assert estimate.update(step=1, total_steps=100, now=1001.0) == 1100
    assert estimate.update(step=2, total_steps=100, now=1002.0) is None  # still 1100: nothing to write
    assert estimate.update(step=3, total_steps=100, now=1002.5) == 1075  # faster: 0.75 s a step since step 1
    assert estimate.update(step=4, total_steps=100, now=1003.0) is None  # half a second after the last write


def test_no_estimate_without_steps():
    estimate = FinishEstimate(started_at=1000.0)
    assert estimate.update(step=0, total_steps=10, now=1001.0) is None
    assert estimate.update(step=1, total_steps=0, now=1001.0) is None
