"""Results on the experiment page: table, prediction filters, SVG charts, CSV and JSON downloads.

The experiment is prepared and scored by the real step functions against real Redis; only the model
answers are written by the test (they stand in for a provider, which the browser test exercises for real).
"""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET

import pytest

from shared.dataset_sampling import SamplingSpec
from shared.evaluate import finish_evaluation
from shared.metrics import make_prediction
from shared.prepare import prepare
from shared.pricing import PRICES_AS_OF
from shared.records import ExperimentSpec
from shared.run_state import fail_run
from shared.store import Store
from shared.summary import summarize

XSS = '<script>alert("xss")</script>'
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR"]


def dataset_csv() -> bytes:
    rows = [["text", "label"]]
    for i in range(20):
        label = "pos" if i % 2 else "neg"
        text = FORMULAS[i % len(FORMULAS)] if i % 4 < 2 else f"{XSS} tweet {i}"
        rows.append([text, label])
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


@pytest.fixture
def finished(store: Store) -> str:
    sha256 = store.put_dataset(dataset_csv(), "injection.csv")
    spec = ExperimentSpec(
        dataset_sha256=sha256,
        dataset_name="injection.csv",
        dataset_path=None,
        text_column="text",
        label_column="label",
        models=["local-tfidf"],
        zero_shot=["smollm2-135m-instruct"],
        sampling=SamplingSpec(
            train_counts={"neg": 5, "pos": 5}, train_offset=0, test_counts={"neg": 5, "pos": 5}, test_offset=5
        ),
    )
    exp_id = store.create_experiment(spec, "http://127.0.0.1:9/v1")
    split = prepare(store, exp_id)
    answers = {
        "run-1": lambda item: item.label,  # always right
        "run-2": lambda item: "=1+1" if item.row % 4 == 1 else "neg",
    }  # a formula and a fixed guess
    for run_id, answer in answers.items():
        predictions = {
            item.row: make_prediction(item.row, item.label, answer(item), split.labels) for item in split.test
        }
        for prediction in predictions.values():
            store.save_prediction(exp_id, run_id, prediction)
        finish_evaluation(store, exp_id, run_id, split, predictions)
    summarize(store, exp_id)
    return exp_id


def test_result_page_has_comparison_charts_and_inert_text(client, finished, store: Store):
    page = client.get(f"/experiments/{finished}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="comparison"' in body and "local-tfidf" in body and "smollm2-135m-instruct" in body
    assert "100.0%" in body, "run-1 answers every item right"
    assert "<script>alert" not in body and "&lt;script&gt;alert(" in body
    assert body.count("confusion/run-") == 2 and "comparison.svg" in body
    assert re.search(r'id="cancel-form"\s+hidden>', body), "a finished experiment offers no cancel"


def test_result_page_shows_intervals_the_comparison_sentence_the_verdict_and_both_costs(client, finished, store: Store):
    record = store.get_experiment(finished)
    body = client.get(f"/experiments/{finished}").get_data(as_text=True)
    [comparison] = record["summary"]["comparisons"]
    assert html.escape(comparison["sentence"], quote=False) in body
    assert html.escape(record["summary"]["verdict"], quote=False) in body
    low, high = record["runs"][1]["metrics"]["accuracy_ci95"]
    assert f"({low * 100:.1f}%–{high * 100:.1f}%)" in body
    assert "Cost estimate" in body and "Actual cost" in body and f"as of {PRICES_AS_OF}" in body
    assert body.count("local model: no charge") >= 2


def test_prediction_filters(client, finished, store: Store):
    record = store.get_experiment(finished)
    wrong_rows = {p["row"] for p in record["runs"][1]["predictions"] if p["predicted"] != p["expected"]}
    errors = client.get(f"/experiments/{finished}?show=errors").get_data(as_text=True)
    assert f"{len(wrong_rows)} of 10 items" in errors
    disagreements = client.get(f"/experiments/{finished}/results?show=disagreements").get_data(as_text=True)
    assert f"{len(wrong_rows)} of 10 items" in disagreements, "run-1 is always right, so disagreements = errors"
    everything = client.get(f"/experiments/{finished}/results").get_data(as_text=True)
    assert "10 of 10 items" in everything


def test_charts_are_svg(client, finished):
    for path in ("charts/comparison.svg", "charts/confusion/run-1.svg", "charts/confusion/run-2.svg"):
        response = client.get(f"/experiments/{finished}/{path}")
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        assert ET.fromstring(response.data).tag.endswith("svg")
        assert b"<script" not in response.data
    assert client.get(f"/experiments/{finished}/charts/confusion/run-9.svg").status_code == 404


def test_the_loss_chart_is_drawn_for_runs_with_a_loss_curve(client, finished, store: Store):
    assert client.get(f"/experiments/{finished}/charts/loss/run-1.svg").status_code == 404, "no curve yet"
    assert "charts/loss/" not in client.get(f"/experiments/{finished}/results").get_data(as_text=True)
    store.update_run(
        finished,
        "run-1",
        loss_curve=[
            {"step": 1, "train_loss": 1.1, "valid_loss": 1.3},
            {"step": 2, "train_loss": 0.7, "valid_loss": 0.9},
        ],
    )
    response = client.get(f"/experiments/{finished}/charts/loss/run-1.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert ET.fromstring(response.data).tag.endswith("svg") and b"<script" not in response.data
    results = client.get(f"/experiments/{finished}/results").get_data(as_text=True)
    assert results.count("charts/loss/") == 1 and "charts/loss/run-1.svg" in results
    page = client.get(f"/experiments/{finished}").get_data(as_text=True)
    assert 'data-field="loss_curve"' in page, "the live page has a loss chart each run card can show"
    assert client.get(f"/experiments/{finished}/charts/loss/run-9.svg").status_code == 404


def test_csv_export_neutralises_formulas(client, finished):
    response = client.get(f"/experiments/{finished}/predictions.csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert len(rows) == 20
    cells = [value for row in rows for value in row.values()]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    texts = {row["text"] for row in rows}
    assert any(text.startswith("'=HYPERLINK") for text in texts)
    assert any(row["output"] == "'=1+1" for row in rows)


def test_json_download_has_record_and_manifest(client, finished, store: Store):
    body = client.get(f"/experiments/{finished}/record.json").get_json()
    assert body["record"] == store.get_experiment(finished)
    manifest = body["manifest"]
    assert manifest["dataset"]["sha256"] == body["record"]["dataset"]["sha256"]
    assert manifest["split"]["test_rows"] == body["record"]["split"]["test_rows"]
    assert [m["base_model"] for m in manifest["models"]] == ["local-tfidf", "smollm2-135m-instruct"]
    assert manifest["prompt"]["preset"] == "reference"


def test_failed_run_shows_its_message(client, store: Store):
    sha256 = store.put_dataset(dataset_csv(), "injection.csv")
    spec = ExperimentSpec(
        dataset_sha256=sha256,
        dataset_name="injection.csv",
        dataset_path=None,
        text_column="text",
        label_column="label",
        models=["no-such-model"],
        sampling=SamplingSpec(
            train_counts={"neg": 5, "pos": 5}, train_offset=0, test_counts={"neg": 5, "pos": 5}, test_offset=5
        ),
    )
    exp_id = store.create_experiment(spec, "http://127.0.0.1:9/v1")
    prepare(store, exp_id)
    fail_run(store, exp_id, "run-1", f"model 'no-such-model' does not exist {XSS}")
    summarize(store, exp_id)
    body = client.get(f"/experiments/{exp_id}").get_data(as_text=True)
    assert store.get_experiment(exp_id)["status"] == "failed"
    assert "model &#39;no-such-model&#39; does not exist &lt;script&gt;" in body
    assert "<script>alert" not in body


def test_the_page_says_whether_the_runs_were_logged_to_mlflow(client, finished, store: Store, tmp_path):
    from shared import tracking
    from shared.settings import load_settings

    assert "MLflow" not in client.get(f"/experiments/{finished}").get_data(as_text=True)
    (tmp_path / "a-file").write_text("not a directory")
    tracking.track(store, finished, load_settings({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/a-file/m.db"}))
    body = client.get(f"/experiments/{finished}").get_data(as_text=True)
    assert "Not logged to MLflow" in body and "a-file" in body

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    logged = tracking.track(store, finished, load_settings({"MLFLOW_TRACKING_URI": uri}))
    body = client.get(f"/experiments/{finished}").get_data(as_text=True)
    assert f"Logged to MLflow as tunequeue/{finished}" in body
    assert f"experiment {logged['experiment_id']}, 2 runs" in body and uri in body
