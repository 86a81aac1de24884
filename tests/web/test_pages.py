"""The HTML pages through the Flask test client, against a real redis-server."""

from __future__ import annotations

import re

from web_helpers import csrf_token, upload, uploaded_sha256

from shared.record_types import FINISHED_EXPERIMENT_STATUSES
from shared.store import Store

XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'


def form_fields(client, sha256: str, **extra) -> dict:
    fields = {
        "csrf_token": csrf_token(client, f"/experiments/new?dataset={sha256}"),
        "dataset": sha256,
        "text_column": "text",
        "label_column": "airline_sentiment",
        "models_other": "local-tfidf",
    }
    fields.update(extra)
    return fields


def test_experiments_list_empty_and_root(client):
    for path in ("/", "/experiments"):
        page = client.get(path)
        assert page.status_code == 200
        assert "No experiments yet" in page.get_data(as_text=True)


def test_navigation_links_to_flower(client, settings_environ):
    page = client.get("/experiments?limit=oops").get_data(as_text=True)
    assert f'href="{settings_environ["FLOWER_URL"]}"' in page


def test_new_form_without_dataset_offers_upload(client):
    page = client.get("/experiments/new").get_data(as_text=True)
    assert 'name="file"' in page
    assert 'id="experiment-form"' not in page


def test_upload_redirects_to_form_with_preview_and_detected_columns(client, sample_csv, store: Store):
    response = upload(client, sample_csv)
    assert response.status_code == 302
    sha256 = uploaded_sha256(response)
    assert store.get_dataset(sha256) == sample_csv
    page = client.get(f"/experiments/new?dataset={sha256}").get_data(as_text=True)
    assert '<option value="text" selected>' in page
    assert '<option value="airline_sentiment" selected>' in page
    assert "@VirginAmerica What @dhepburn said." in page
    assert 'name="train_count:neutral" value="34"' in page
    assert "tweets.csv" in page


def test_upload_errors_appear_next_to_the_file_field(client):
    bad = upload(client, "text,label\ncaf\xe9,a\n".encode("latin-1"))
    assert bad.status_code == 400
    assert 'data-error-for="file"' in bad.get_data(as_text=True)
    assert "not UTF-8" in bad.get_data(as_text=True)
    empty = upload(client, b"")
    assert empty.status_code == 400 and "empty" in empty.get_data(as_text=True)


def test_check_shows_validation_report_and_estimates(client, sample_csv):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    page = client.post(
        "/experiments/new", data=form_fields(client, sha256, action="check", zero_shot_other="gpt-4o-mini")
    )
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="report"' in body and "passes validation" in body
    assert "100 examples" in body
    assert 'id="launch-button"' in body
    assert "gpt-4o-mini" in body and "$" in body
    assert 'value="local-tfidf"' in body and 'value="gpt-4o-mini"' in body, "typed models survive a re-render"


def test_field_errors_are_shown_next_to_their_fields(client, sample_csv):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    fields = form_fields(
        client,
        sha256,
        action="launch",
        models_other="",
        n_epochs="many",
        suffix="no spaces",
        user_template="no placeholder",
        test_offset="-4",
    )
    fields["train_count:neutral"] = "5000"
    fields["counts_for"] = "airline_sentiment"
    page = client.post("/experiments/new", data=fields)
    body = page.get_data(as_text=True)
    assert page.status_code == 400
    for name in ("models", "n_epochs", "suffix", "user_template", "test_offset"):
        assert f'data-error-for="{name}"' in body, name
    assert 'id="launch-button"' not in body


def test_launch_queues_experiment_and_redirects_to_live_page(client, sample_csv, store: Store):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    response = client.post("/experiments/new", data=form_fields(client, sha256, action="launch"))
    assert response.status_code == 302
    exp_id = response.headers["Location"].rsplit("/", 1)[1]
    record = store.get_experiment(exp_id)
    assert record["status"] == "queued"
    assert [run["base_model"] for run in record["runs"]] == ["local-tfidf"]
    assert record["dataset"]["sha256"] == sha256
    assert store.client.llen("tunequeue") >= 1, "the prepare task was not enqueued on the test broker"
    page = client.get(f"/experiments/{exp_id}").get_data(as_text=True)
    assert 'id="cancel-form"' in page and "run-1" in page and "local-tfidf" in page
    listing = client.get("/experiments").get_data(as_text=True)
    assert exp_id in listing and "tweets.csv" in listing


def test_cancel_from_page(client, sample_csv, store: Store):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    exp_id = (
        client.post("/experiments/new", data=form_fields(client, sha256, action="launch"))
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    response = client.post(f"/experiments/{exp_id}/cancel", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert store.get_experiment(exp_id)["status"] == "cancelled"


def test_live_page_script_reads_the_finished_statuses_from_the_record_module(client, sample_csv, store: Store):
    """The page script stops polling on the finished experiment statuses of shared.record_types, `partial` included
    (handed over in a data attribute), and a finished experiment's page has its cancel form hidden."""
    sha256 = uploaded_sha256(upload(client, sample_csv))
    exp_id = (
        client.post("/experiments/new", data=form_fields(client, sha256, action="launch"))
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    page = client.get(f"/experiments/{exp_id}").get_data(as_text=True)
    assert f'data-finished-statuses="{" ".join(FINISHED_EXPERIMENT_STATUSES)}"' in page
    assert "partial" in FINISHED_EXPERIMENT_STATUSES
    assert not re.search(r'id="cancel-form"\s+hidden>', page)
    for status in ("partial", "failed"):
        store.update_experiment(exp_id, status=status)
        page = client.get(f"/experiments/{exp_id}").get_data(as_text=True)
        assert re.search(r'id="cancel-form"\s+hidden>', page), status


def test_unknown_experiment_is_404(client):
    assert client.get("/experiments/exp_000000000000").status_code == 404
    assert (
        client.post("/experiments/exp_000000000000/cancel", data={"csrf_token": csrf_token(client)}).status_code == 404
    )


def test_xss_payload_in_csv_cells_is_rendered_inert(client):
    rows = ["text,label"] + [f'"{XSS} {i}",{label}' for i, label in enumerate(["a", "b"] * 120)]
    rows.append(f'plain,"{XSS}"')
    sha256 = uploaded_sha256(upload(client, "\n".join(rows).encode()))
    page = client.get(f"/experiments/new?dataset={sha256}").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page


def test_dataset_summary_for_chosen_columns(client, sample_csv):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    summary = client.get(f"/datasets/{sha256}/summary.json?text_column=text&label_column=airline")
    assert summary.status_code == 200
    body = summary.get_json()
    assert body["n_rows"] == 454 and sum(body["class_counts"].values()) == body["n_items"]
    assert "Virgin America" in body["class_counts"]
    wrong = client.get(f"/datasets/{sha256}/summary.json?text_column=text&label_column=nope")
    assert wrong.status_code == 400 and "Available columns" in wrong.get_json()["error"]
    assert client.get(f"/datasets/{'0' * 64}/summary.json").status_code == 404


def test_the_form_takes_a_validation_count_and_shows_its_error_next_to_it(client, sample_csv, store: Store):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    form = client.get(f"/experiments/new?dataset={sha256}").get_data(as_text=True)
    assert 'name="validation_count"' in form
    too_many = client.post(
        "/experiments/new", data=form_fields(client, sha256, action="launch", validation_count="500")
    )
    body = too_many.get_data(as_text=True)
    assert too_many.status_code == 400 and 'data-error-for="validation_count"' in body and "only" in body
    launched = client.post("/experiments/new", data=form_fields(client, sha256, action="launch", validation_count="12"))
    assert launched.status_code == 302
    record = store.get_experiment(launched.headers["Location"].rsplit("/", 1)[1])
    assert record["sampling"]["validation_count"] == 12
