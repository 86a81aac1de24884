import csv
import io
import json

import pytest

from shared.dataset_sampling import reference_sampling
from shared.export import (
    PREDICTION_COLUMNS,
    build_manifest,
    csv_bytes,
    item_texts,
    neutralize_cell,
    predictions_csv,
)
from shared.records import ExperimentSpec, new_experiment_record


@pytest.mark.parametrize(
    "value, expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\x00=cmd", "'\x00=cmd"),
        ("@united thanks", "'@united thanks"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        (None, ""),
        (12, "12"),
        (True, "True"),
    ],
)
def test_neutralize_cell(value, expected):
    assert neutralize_cell(value) == expected


def read_back(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_bytes_neutralises_every_cell_and_keeps_newlines():
    rows = read_back(csv_bytes(["=h", "b"], [["=1+2", "line\nbreak"], ["ok", '"quoted"']]))
    assert rows == [["'=h", "b"], ["'=1+2", "line\nbreak"], ["ok", '"quoted"']]


def make_record() -> dict:
    spec = ExperimentSpec(
        dataset_sha256="cd" * 32,
        dataset_name="t.csv",
        dataset_path=None,
        text_column="text",
        label_column="label",
        models=["local-minilm"],
        zero_shot=["local-tfidf"],
        sampling=reference_sampling(["a", "b"]),
    )
    record = new_experiment_record(spec, "http://127.0.0.1:8100/v1")
    record["runs"][0].update(
        fine_tuned_model="ft:local-minilm:local:tq:1",
        job_id="ftjob-1",
        metrics={"accuracy": 0.5, "macro_f1": 0.4},
        predictions=[
            {"row": 9, "expected": "b", "output": "=cmd|' /C calc'!A0", "predicted": None},
            {"row": 2, "expected": "a", "output": "A", "predicted": "a"},
        ],
    )
    return record


def test_predictions_csv():
    rows = read_back(
        predictions_csv(
            make_record(),
            item_texts({"test": [{"row": 2, "text": "-bad", "label": "a"}, {"row": 9, "text": "fine", "label": "b"}]}),
        )
    )
    assert rows[0] == list(PREDICTION_COLUMNS)
    assert rows[1] == ["run-1", "local-minilm", "ft:local-minilm:local:tq:1", "2", "'-bad", "a", "A", "a", "True"]
    assert rows[2] == [
        "run-1",
        "local-minilm",
        "ft:local-minilm:local:tq:1",
        "9",
        "fine",
        "b",
        "'=cmd|' /C calc'!A0",
        "",
        "False",
    ]
    assert len(rows) == 3


def test_manifest_holds_what_reproduces_the_experiment():
    record = make_record()
    record["split"] = {"train_rows": [0, 1], "test_rows": [2, 9]}
    manifest = build_manifest(record)
    assert manifest["experiment_id"] == record["id"]
    assert manifest["dataset"]["sha256"] == "cd" * 32
    assert manifest["split"] == record["split"]
    assert manifest["prompt"] == record["prompt"]
    assert manifest["hyperparameters"] == record["hyperparameters"]
    assert manifest["models"][0]["fine_tuned_model"] == "ft:local-minilm:local:tq:1"
    assert manifest["models"][0]["job_id"] == "ftjob-1"
    assert [m["kind"] for m in manifest["models"]] == ["fine-tuned", "zero-shot"]
    assert json.loads(json.dumps(manifest)) == manifest
