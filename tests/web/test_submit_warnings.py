"""Submitting while the provider is down still queues the experiment, and says so: a `warnings` list in the API's
202 and a warning on the form. The web fixtures' OPENAI_BASE_URL is a port where nothing listens."""

from __future__ import annotations

import io

from web_helpers import csrf_token, upload, uploaded_sha256


def test_api_202_warns_that_the_provider_is_unreachable(client, sample_csv):
    response = client.post(
        "/api/experiments",
        data={"file": (io.BytesIO(sample_csv), "t.csv"), "models": "local-tfidf"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    warnings = response.get_json()["warnings"]
    assert len(warnings) == 1 and "unreachable" in warnings[0] and "queued" in warnings[0]


def test_api_202_has_no_warning_when_the_provider_answers(make_app, tq_stack, sample_csv):
    client = make_app(OPENAI_BASE_URL=tq_stack.openai_base_url).test_client()
    response = client.post(
        "/api/experiments",
        data={"file": (io.BytesIO(sample_csv), "t.csv"), "models": "local-tfidf"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202 and response.get_json()["warnings"] == []


def test_form_warns_before_and_after_launch(client, sample_csv):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    form = client.get(f"/experiments/new?dataset={sha256}").get_data(as_text=True)
    assert 'id="provider-warning"' in form and "unreachable" in form
    launched = client.post(
        "/experiments/new",
        data={"csrf_token": csrf_token(client), "dataset": sha256, "models_other": "local-tfidf", "action": "launch"},
        follow_redirects=True,
    )
    assert launched.status_code == 200 and "will run when the provider is back" in launched.get_data(as_text=True)
