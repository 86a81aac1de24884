"""Building a re-run's spec, and planning and starting the retry of one run, on records in a real Redis."""

from __future__ import annotations

import pytest
from scored_runs import right, sample_spec, scored_experiment

from shared.fine_tune_job import job_metadata
from shared.records import RecordError, spec_from_record
from shared.rerun import RerunChanges, rerun_changes, rerun_spec
from shared.retry import RetryRefused, plan_retry, start_retry
from shared.settings import load_settings
from shared.store import NotFound, Store


def test_a_rerun_keeps_dataset_split_and_prompt_and_changes_only_what_is_asked(store: Store) -> None:
    exp_id = scored_experiment(store, [("local-tfidf", right)])
    record = store.get_experiment(exp_id)
    same = rerun_spec(record, RerunChanges())
    assert same == spec_from_record(record)
    changed = rerun_spec(record, rerun_changes({"models": ["local-minilm"], "zero_shot": ["gpt-4o-mini"], "seed": 7}))
    assert (changed.models, changed.zero_shot, changed.hyperparameters["seed"]) == (
        ["local-minilm"],
        ["gpt-4o-mini"],
        7,
    )
    assert (changed.sampling, changed.prompt, changed.dataset_sha256) == (
        same.sampling,
        same.prompt,
        same.dataset_sha256,
    )
    assert rerun_spec(record, rerun_changes({"seed": None})).hyperparameters["seed"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"sampling": {}}, "sampling"),
        ({"models": "local-tfidf"}, "models"),
        ({"models": [""]}, "models"),
        ({"zero_shot": [3]}, "zero_shot"),
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"seed": True}, "seed"),
    ],
)
def test_rerun_changes_name_the_field_at_fault(body: dict[str, object], field: str) -> None:
    with pytest.raises(RecordError) as raised:
        rerun_changes(body)
    assert raised.value.field == field


def test_a_rerun_is_held_to_the_caps(store: Store) -> None:
    record = store.get_experiment(scored_experiment(store, [("local-tfidf", right)]))
    settings = load_settings({"TQ_MAX_MODELS": "2", "SECRET_KEY": "x" * 32})
    with pytest.raises(RecordError, match="TQ_MAX_MODELS"):
        rerun_spec(record, RerunChanges(models=["a", "b", "c"]), settings)


def failed_experiment(store: Store, **run_fields: object) -> str:
    exp_id = scored_experiment(store, [("local-tfidf", right), ("local-minilm", right)])
    store.update_run(exp_id, "run-2", **{"status": "failed", "error": "boom", "metrics": None, **run_fields})
    return exp_id


def test_only_a_failed_or_cancelled_run_is_retried(store: Store) -> None:
    exp_id = failed_experiment(store)
    record = store.get_experiment(exp_id, with_predictions=False)
    with pytest.raises(RetryRefused, match="run-1 of .* is succeeded; only a failed or cancelled run"):
        plan_retry(record, "run-1", has_items=True)
    with pytest.raises(NotFound, match="has no run run-9"):
        plan_retry(record, "run-9", has_items=True)
    store.update_run(exp_id, "run-1", status="evaluating")
    with pytest.raises(RetryRefused, match=r"unfinished runs: run-1 \(evaluating\)"):
        plan_retry(store.get_experiment(exp_id), "run-2", has_items=True)


def test_a_run_whose_job_finished_is_only_evaluated_again_keeping_its_answers(store: Store) -> None:
    exp_id = failed_experiment(store, job_id="ftjob-1", job_status="succeeded", fine_tuned_model="ft:m:1")
    answers = store.predictions(exp_id, "run-2")
    plan = start_retry(store, exp_id, "run-2")
    assert (plan.evaluation_only, plan.model, plan.prepare, plan.attempt) == (True, "ft:m:1", False, 2)
    run = store.get_run(exp_id, "run-2")
    assert (run["status"], run["error"], run["job_id"], run["fine_tuned_model"], run["attempt"]) == (
        "pending",
        None,
        "ftjob-1",
        "ft:m:1",
        2,
    )
    assert store.predictions(exp_id, "run-2") == answers
    record = store.get_experiment(exp_id, with_predictions=False)
    assert (record["status"], record["finished_at"], record["cancel_requested"]) == ("running", None, False)
    with pytest.raises(RetryRefused, match="is pending"):
        start_retry(store, exp_id, "run-2")


def test_a_run_whose_job_failed_is_trained_again_as_a_new_attempt(store: Store) -> None:
    exp_id = failed_experiment(store, job_id="ftjob-1", job_status="failed", deadline_at=1.0)
    plan = start_retry(store, exp_id, "run-2")
    assert (plan.evaluation_only, plan.model) == (False, None)
    run = store.get_run(exp_id, "run-2")
    assert (run["job_id"], run["job_status"], run["attempt"]) == (None, None, 2)
    assert "deadline_at" not in run and store.predictions(exp_id, "run-2") == {}
    assert job_metadata(exp_id, "run-2", 2) == {
        "tunequeue_experiment": exp_id,
        "tunequeue_run": "run-2",
        "tunequeue_attempt": "2",
    }
    assert "tunequeue_attempt" not in job_metadata(exp_id, "run-2")


def test_a_run_that_never_got_its_split_prepares_it_first(store: Store) -> None:
    exp_id = store.create_experiment(sample_spec(store, ["local-tfidf"]), "http://127.0.0.1:9/v1")
    store.update_run(exp_id, "run-1", status="failed", error="not started: Redis was flushed")
    plan = start_retry(store, exp_id, "run-1")
    assert plan.prepare and not plan.evaluation_only
    assert store.get_experiment(exp_id)["status"] == "queued"


def test_two_retries_at_once_start_one(store: Store) -> None:
    """Both pass the plan; the status check inside the reset's transaction lets only one through."""
    exp_id = failed_experiment(store)
    record = store.get_experiment(exp_id, with_predictions=False)
    plan_retry(record, "run-2", has_items=True)
    first = store.update_run_if(exp_id, "run-2", ("failed", "cancelled"), status="pending")
    second = store.update_run_if(exp_id, "run-2", ("failed", "cancelled"), status="pending")
    assert first is not None and first["status"] == "pending" and second is None
