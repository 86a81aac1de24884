"""`python -m worker` commands through `worker.cli.main`, against a real Redis, local_openai and worker process."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from worker_helpers import SAMPLE_CSV, TWEETS_CSV, csv_labels, recomputed_accuracy, reference_rows

from shared.dataset_sampling import REFERENCE_TRAIN_COUNTS
from shared.settings import get_settings
from worker import cli
from worker.commands import render


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.slow
@pytest.mark.skipif(not TWEETS_CSV.exists(), reason=f"{TWEETS_CSV} is not present")
def test_run_reproduces_the_reference_split_on_tweets(capsys, start_worker, tq_store, provider):
    start_worker()
    status, out, err = run_cli(
        capsys,
        "run",
        "--data",
        str(TWEETS_CSV),
        "--text-column",
        "text",
        "--label-column",
        "airline_sentiment",
        "--model",
        "local-tfidf",
        "--json",
    )
    assert status == 0, err
    printed = json.loads(out)
    record = tq_store.get_experiment(printed["id"])
    assert printed["runs"][0]["metrics"] == record["runs"][0]["metrics"]

    split = record["split"]
    assert split["train_rows"] == reference_rows(TWEETS_CSV, 0, REFERENCE_TRAIN_COUNTS)
    assert split["test_rows"] == reference_rows(TWEETS_CSV, 100, REFERENCE_TRAIN_COUNTS)
    assert not set(split["train_rows"]) & set(split["test_rows"])
    assert record["dataset"]["columns"] == {"text": "text", "label": "airline_sentiment"}
    assert record["dataset"]["n_rows"] == len(csv_labels(TWEETS_CSV))

    (run,) = record["runs"]
    assert (run["status"], run["kind"], run["base_model"]) == ("succeeded", "fine-tuned", "local-tfidf")
    assert run["file_id"] == record["training_file"]["file_id"]
    assert run["fine_tuned_model"] == provider.fine_tuning.jobs.retrieve(run["job_id"]).fine_tuned_model
    labels = csv_labels(TWEETS_CSV)
    assert [p["row"] for p in run["predictions"]] == sorted(split["test_rows"])
    assert all(p["expected"] == labels[p["row"]] for p in run["predictions"])
    assert run["metrics"]["n"] == 100
    assert run["metrics"]["accuracy"] == pytest.approx(recomputed_accuracy(run))
    assert record["summary"]["best_run"] == run["id"]
    assert record["status"] == "succeeded"


@pytest.mark.slow
def test_a_failed_run_is_recorded_and_the_others_still_compared(capsys, start_worker, tq_store):
    start_worker()
    status, out, err = run_cli(
        capsys, "run", "--data", str(SAMPLE_CSV), "--model", "no-such-model", "--model", "local-tfidf", "--json"
    )
    record = tq_store.get_experiment(json.loads(out)["id"])
    failed, succeeded = record["runs"]
    assert failed["status"] == "failed"
    assert "no-such-model" in failed["error"] and "not available for fine-tuning" in failed["error"]
    assert failed["job_id"] is None
    assert succeeded["status"] == "succeeded"
    assert succeeded["metrics"]["accuracy"] == pytest.approx(recomputed_accuracy(succeeded))
    assert [row["status"] for row in record["summary"]["table"]] == ["failed", "succeeded"]
    assert record["summary"]["best_run"] == succeeded["id"]
    assert failed["error"] in record["error"]
    assert record["status"] == "partial"
    assert status == 3  # some runs succeeded, the others failed (was 1 before the `partial` status existed)


def test_run_refuses_a_bad_column_before_queueing_anything(capsys, tq_stack, tq_store):
    before = len(tq_store.list_experiments(limit=1000))
    status, out, err = run_cli(
        capsys, "run", "--data", str(SAMPLE_CSV), "--label-column", "mood", "--model", "local-tfidf"
    )
    assert status == 2
    assert "'mood' is not in the file" in err and "airline_sentiment" in err
    assert len(tq_store.list_experiments(limit=1000)) == before


def test_run_names_a_missing_file(capsys, tq_stack, tmp_path):
    status, _, err = run_cli(capsys, "run", "--data", str(tmp_path / "missing.csv"), "--model", "local-tfidf")
    assert status == 2 and "missing.csv" in err and "--data" in err


def test_run_respects_the_dataset_quota(capsys, tq_stack, tq_store, monkeypatch, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(SAMPLE_CSV.read_bytes() + b"\n" * 2048)
    monkeypatch.setenv("TQ_DATASET_QUOTA_BYTES", "1024")
    get_settings.cache_clear()
    try:
        status, _, err = run_cli(capsys, "run", "--data", str(big), "--model", "local-tfidf")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert status == 2 and "TQ_DATASET_QUOTA_BYTES" in err
    assert not tq_store.has_dataset(hashlib.sha256(big.read_bytes()).hexdigest())


def test_run_takes_a_validation_count_and_refuses_one_the_file_cannot_fill(capsys, tq_stack, tq_store):
    from worker.commands.spec import build_spec

    spec = build_spec(
        tq_store, SAMPLE_CSV, "text", "airline_sentiment", ["local-tfidf"], [], "reference", validation_count=5
    )
    assert spec.sampling.validation_count == 5
    before = len(tq_store.list_experiments(limit=1000))
    status, _, err = run_cli(
        capsys, "run", "--data", str(SAMPLE_CSV), "--model", "local-tfidf", "--validation-count", "500"
    )
    assert status == 2 and "validation" in err and "only" in err, err
    assert len(tq_store.list_experiments(limit=1000)) == before
    status, _, err = run_cli(
        capsys, "run", "--data", str(SAMPLE_CSV), "--model", "local-tfidf", "--validation-count", "-2"
    )
    assert status == 2 and "--validation-count" in err, err


def test_show_unknown_experiment_says_what_ids_look_like(capsys, tq_stack):
    status, _, err = run_cli(capsys, "show", "exp_000000000000")
    assert status == 2 and "no experiment 'exp_000000000000'" in err


def test_comparison_table_lists_every_run_and_failures():
    record = {
        "runs": [
            {
                "id": "run-1",
                "base_model": "local-tfidf",
                "kind": "fine-tuned",
                "status": "succeeded",
                "fine_tuned_model": "ft:local-tfidf:local:tq:1",
                "training_seconds": 4.25,
                "trained_tokens": 6000,
                "cost_estimate_usd": 0.0,
                "cost_usd": 0.0,
                "cost_note": "local model: no charge",
                "metrics": {
                    "accuracy": 0.61,
                    "accuracy_ci95": [0.512, 0.7],
                    "macro_f1": 0.6,
                    "macro_f1_ci95": [0.5, 0.69],
                    "invalid": 2,
                },
            },
            {
                "id": "run-2",
                "base_model": "gpt-x",
                "kind": "zero-shot",
                "status": "failed",
                "error": "boom",
                "metrics": None,
            },
        ]
    }
    table = render.comparison_table(record).splitlines()
    assert table[0].split() == [
        "model",
        "kind",
        "accuracy",
        "macro-F1",
        "invalid",
        "training",
        "s",
        "tokens",
        "est.",
        "$",
        "cost",
        "$",
        "status",
    ]
    assert table[2].split() == [
        "ft:local-tfidf:local:tq:1",
        "fine-tuned",
        "0.610",
        "[0.51-0.70]",
        "0.600",
        "[0.50-0.69]",
        "2",
        "4.2",
        "6000",
        "0.0000",
        "0.0000",
        "succeeded",
    ]
    assert table[3].split()[:3] == ["gpt-x", "zero-shot", "-"]
    assert table[4] == "run-2 (gpt-x) failed: boom"
    assert table[-1] == "cost: local model: no charge"


def test_show_prints_each_comparison_sentence_under_the_table_and_the_tie_verdict():
    sentence = (
        "no significant difference between run-1 and run-2 at n = 100 (a difference of 0.04, p = 0.39); "
        "about 1,000 test items would detect a difference of this size"
    )
    run = {"base_model": "local-tfidf", "kind": "fine-tuned", "status": "succeeded", "metrics": {"accuracy": 0.8}}
    record = {
        "id": "exp_0123456789ab",
        "status": "succeeded",
        "error": None,
        "dataset": {"name": "t.csv", "sha256": "ab" * 32, "columns": {"text": "text", "label": "label"}},
        "runs": [{**run, "id": "run-1"}, {**run, "id": "run-2"}],
        "summary": {
            "best_run": None,
            "verdict": f"tie within noise: {sentence}",
            "comparisons": [{"sentence": sentence}],
        },
    }
    printed = io.StringIO()
    render.print_record(record, False, printed)
    lines = printed.getvalue().splitlines()
    assert f"best: none (tie within noise: {sentence})" in lines
    assert lines[-1] == f"  {sentence}"


def test_progress_line_counts_training_and_evaluation():
    record = {
        "status": "running",
        "runs": [
            {"base_model": "a", "kind": "fine-tuned", "status": "evaluating", "progress": {"done": 50, "total": 100}},
            {"base_model": "b", "kind": "zero-shot", "status": "succeeded", "progress": {"done": 10, "total": 10}},
        ],
    }
    line = render.progress_line(record, width=8)
    assert line.startswith("[#######.]  88% running | a evaluating 50/100 | b succeeded")


@pytest.mark.parametrize("exp_id", ["exp_0123456789ab:items", "exp_*", "../x"])
def test_show_refuses_a_malformed_id_before_connecting(capsys, monkeypatch, exp_id):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens: the id is refused first
    get_settings.cache_clear()
    try:
        status, _, err = run_cli(capsys, "show", exp_id)
    finally:
        get_settings.cache_clear()
    assert status == 2 and "is not an experiment id" in err and "exp_0123456789ab" in err


def stored_experiment(store, models=("local-tfidf",)) -> str:
    """An experiment record in Redis, as `run` creates it, but not enqueued: no worker ever touches it."""
    from worker.commands.spec import build_spec

    spec = build_spec(store, SAMPLE_CSV, "text", "airline_sentiment", list(models), [], "reference")
    return store.create_experiment(spec, get_settings().openai_base_url)


def test_list_prints_the_newest_experiments_first(capsys, tq_stack, tq_store):
    older, newer = stored_experiment(tq_store), stored_experiment(tq_store, models=("local-minilm",))
    status, out, err = run_cli(capsys, "list", "--limit", "2")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["id", "status", "created", "dataset", "models", "best", "accuracy"]
    assert [line.split()[:2] for line in lines[2:]] == [[newer, "queued"], [older, "queued"]]
    assert "local-minilm" in lines[2] and SAMPLE_CSV.name in lines[2]

    status, out, _ = run_cli(capsys, "list", "--limit", "1", "--json")
    assert status == 0 and [record["id"] for record in json.loads(out)] == [newer]


def test_list_refuses_a_limit_out_of_range(capsys, tq_stack):
    status, _, err = run_cli(capsys, "list", "--limit", "0")
    assert status == 2 and "--limit 0" in err and "1 to 500" in err


def test_cancel_cancels_a_queued_experiment_and_leaves_a_finished_one(capsys, tq_stack, tq_store):
    exp_id = stored_experiment(tq_store)
    status, _, err = run_cli(capsys, "cancel", exp_id)
    assert status == 0, err
    assert tq_store.get_experiment(exp_id)["status"] == "cancelled"
    assert tq_store.cancel_requested(exp_id)

    status, _, err = run_cli(capsys, "cancel", exp_id)
    assert status == 0 and "already cancelled" in err


def test_cancel_and_export_name_an_unknown_experiment(capsys, tq_stack):
    for command in ("cancel", "export"):
        status, _, err = run_cli(capsys, command, "exp_000000000000")
        assert status == 2 and "no experiment 'exp_000000000000'" in err


def test_export_writes_the_record_and_the_predictions(capsys, tq_stack, tq_store, tmp_path):
    exp_id = stored_experiment(tq_store)
    (run,) = tq_store.get_experiment(exp_id)["runs"]
    tq_store.save_items(exp_id, {"train": [], "test": [{"row": 7, "text": "=1+1 late again", "label": "negative"}]})
    tq_store.save_prediction(
        exp_id, run["id"], {"row": 7, "expected": "negative", "output": "Negative.", "predicted": "negative"}
    )

    status, out, err = run_cli(capsys, "export", exp_id)
    assert status == 0, err
    exported = json.loads(out)
    assert exported["manifest"]["experiment_id"] == exp_id
    assert exported["record"]["runs"][0]["predictions"][0]["output"] == "Negative."

    target = tmp_path / "predictions.csv"
    status, _, err = run_cli(capsys, "export", exp_id, "--format", "csv", "--output", str(target))
    assert status == 0 and str(target) in err
    header, row = target.read_bytes().decode("utf-8-sig").splitlines()
    assert header == "run,base_model,model,row,text,expected,output,predicted,correct"
    assert row == f"{run['id']},local-tfidf,local-tfidf,7,'=1+1 late again,negative,Negative.,negative,True"
