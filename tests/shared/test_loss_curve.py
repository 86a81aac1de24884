"""Loss-curve parsing from OpenAI's shapes (job events, checkpoints, the result CSV) and merging without duplicates.

The events and checkpoints are the openai SDK's own types, built from JSON as OpenAI documents it."""

from __future__ import annotations

from collections.abc import Iterator

from openai.types.fine_tuning import FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from shared.loss_curve import checkpoint_points, csv_points, event_points, loss_point, merge_points


def metrics_event(step: int, train_loss: float, valid_loss: float | None = None) -> FineTuningJobEvent:
    data: dict[str, object] = {
        "step": step,
        "train_loss": train_loss,
        "total_steps": 9,
        "train_mean_token_accuracy": 0.5,
    }
    if valid_loss is not None:
        data["valid_loss"] = valid_loss
    return FineTuningJobEvent.model_validate(
        {
            "id": f"ftevent-{step}",
            "object": "fine_tuning.job.event",
            "created_at": 1,
            "level": "info",
            "message": f"Step {step}/9: training loss={train_loss}",
            "type": "metrics",
            "data": data,
        }
    )


def message_event(text: str) -> FineTuningJobEvent:
    return FineTuningJobEvent.model_validate(
        {
            "id": "ftevent-m",
            "object": "fine_tuning.job.event",
            "created_at": 1,
            "level": "info",
            "message": text,
            "type": "message",
            "data": {},
        }
    )


def test_metrics_events_become_points_and_messages_are_skipped():
    newest_first = [
        message_event("The job has successfully completed"),
        metrics_event(3, 0.4, 0.6),
        message_event("Checkpoint created at step 2"),
        metrics_event(2, 0.7),
        metrics_event(1, 1.2, 1.1),
    ]
    assert event_points(newest_first) == [
        {"step": 3, "train_loss": 0.4, "valid_loss": 0.6},
        {"step": 2, "train_loss": 0.7, "valid_loss": None},
        {"step": 1, "train_loss": 1.2, "valid_loss": 1.1},
    ]


def test_reading_events_stops_at_the_first_step_already_in_the_curve():
    def listing() -> Iterator[FineTuningJobEvent]:
        yield metrics_event(5, 0.3)
        yield metrics_event(4, 0.35, 0.5)
        yield metrics_event(3, 0.4)
        raise AssertionError("read past the last known step: every poll would page through the whole history")

    assert [point["step"] for point in event_points(listing(), after_step=3)] == [5, 4]


def test_checkpoint_metrics_and_the_result_csv_are_read_in_openais_shapes():
    checkpoint = FineTuningJobCheckpoint.model_validate(
        {
            "id": "ftckpt-1",
            "object": "fine_tuning.job.checkpoint",
            "created_at": 1,
            "fine_tuning_job_id": "ftjob-1",
            "fine_tuned_model_checkpoint": "ft:m:org::abc:ckpt-step-8",
            "step_number": 8,
            "metrics": {"step": 8.0, "train_loss": 0.25, "train_mean_token_accuracy": 0.9, "full_valid_loss": 0.45},
        }
    )
    assert checkpoint_points([checkpoint]) == [{"step": 8, "train_loss": 0.25, "valid_loss": 0.45}]
    result_file = (
        b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\r\n"
        b"1,1.5,0.2,,\r\n2,1.1,0.4,1.3,0.5\r\n3,nan,,,\r\n"
    )
    assert csv_points(result_file) == [
        {"step": 1, "train_loss": 1.5, "valid_loss": None},
        {"step": 2, "train_loss": 1.1, "valid_loss": 1.3},
    ]


def test_a_point_needs_a_step_and_a_finite_loss():
    assert loss_point({"step": 1, "train_loss": "inf"}) is None
    assert loss_point({"train_loss": 0.5}) is None
    assert loss_point({"step": -1, "train_loss": 0.5}) is None
    assert loss_point({"step": True, "train_loss": 0.5}) is None
    assert loss_point({"step": "4", "valid_loss": "0.5"}) == {"step": 4, "train_loss": None, "valid_loss": 0.5}


def test_merging_adds_new_steps_in_order_fills_missing_losses_and_never_duplicates():
    curve = [{"step": 1, "train_loss": 1.0, "valid_loss": None}, {"step": 2, "train_loss": 0.8, "valid_loss": None}]
    merged = merge_points(
        curve,
        [
            {"step": 3, "train_loss": 0.6, "valid_loss": 0.7},
            {"step": 2, "train_loss": 0.9, "valid_loss": 0.75},
            {"step": 1, "train_loss": 1.0, "valid_loss": None},
        ],
    )
    assert merged == [
        {"step": 1, "train_loss": 1.0, "valid_loss": None},
        {"step": 2, "train_loss": 0.8, "valid_loss": 0.75},
        {"step": 3, "train_loss": 0.6, "valid_loss": 0.7},
    ]
    assert merge_points(merged, merged) == merged
