"""CSRF, the optional WEB_AUTH_TOKEN, the upload size limit and secrets never reaching a page."""

from __future__ import annotations

import io
import json

import pytest
from web_helpers import csrf_token, upload, uploaded_sha256

TOKEN = "web-token-for-tests"
REMOTE = {"REMOTE_ADDR": "192.0.2.10"}


def test_form_post_without_csrf_token_is_refused(client, sample_csv):
    response = client.post(
        "/datasets", data={"file": (io.BytesIO(sample_csv), "t.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    wrong = client.post("/experiments/new", data={"csrf_token": "forged", "dataset": "x"})
    assert wrong.status_code == 400


def test_api_needs_csrf_from_another_host_or_a_foreign_origin(client):
    body = {"dataset": "0" * 64, "models": ["local-tfidf"]}
    remote = client.post("/api/experiments", json=body, environ_base=REMOTE)
    assert remote.status_code == 400 and "CSRF" in remote.get_json()["error"]
    cross_site = client.post("/api/experiments", json=body, headers={"Origin": "http://evil.example"})
    assert cross_site.status_code == 400 and "CSRF" in cross_site.get_json()["error"]
    proxied = client.post("/api/experiments", json=body, headers={"X-Forwarded-For": "198.51.100.7"})
    assert proxied.status_code == 400, "a request forwarded by a local proxy is not a local one"
    local = client.post("/api/experiments", json=body)
    assert local.status_code == 404, "a local script without Origin skips CSRF and reaches the view"


@pytest.fixture
def locked(make_app):
    return make_app(WEB_AUTH_TOKEN=TOKEN).test_client()


def test_token_protects_pages_and_api(locked):
    page = locked.get("/experiments")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert locked.get("/api/experiments").status_code == 401
    assert locked.get("/api/experiments", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert locked.get("/api/experiments", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert locked.get("/static/app.css").status_code == 200


def test_bearer_token_lets_the_api_skip_csrf_from_anywhere(locked):
    response = locked.post(
        "/api/experiments",
        json={"dataset": "0" * 64, "models": ["m"]},
        environ_base=REMOTE,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 404
    unauthenticated_local = locked.post("/api/experiments", json={"dataset": "0" * 64})
    assert unauthenticated_local.status_code == 401


def test_login_form_sets_a_session(locked):
    login_page = locked.get("/login?next=/experiments")
    token = csrf_token(locked, "/login")
    refused = locked.post("/login?next=/experiments", data={"csrf_token": token, "token": "guess"})
    assert refused.status_code == 401 and "not right" in refused.get_data(as_text=True)
    assert login_page.status_code == 200
    accepted = locked.post("/login?next=/experiments", data={"csrf_token": token, "token": TOKEN})
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith("/experiments")
    assert locked.get("/experiments").status_code == 200
    assert locked.get("/api/experiments").status_code == 200
    locked.post("/logout", data={"csrf_token": csrf_token(locked, "/experiments")})
    assert locked.get("/experiments").status_code == 302


def test_login_refuses_open_redirects(locked):
    token = csrf_token(locked, "/login")
    response = locked.post("/login?next=//evil.example/x", data={"csrf_token": token, "token": TOKEN})
    assert response.headers["Location"] == "/"


def test_oversize_upload_is_413_with_a_clear_message(client, settings_environ):
    limit = int(settings_environ["TQ_MAX_UPLOAD_BYTES"])
    big = b"text,label\n" + b"x" * (limit + 1024)
    page = client.post(
        "/datasets",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(big), "big.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 413
    assert "TQ_MAX_UPLOAD_BYTES" in page.get_data(as_text=True) and "0.2 MiB" in page.get_data(as_text=True)
    api = client.post(
        "/api/experiments",
        data={"file": (io.BytesIO(big), "big.csv"), "models": "m"},
        content_type="multipart/form-data",
    )
    assert api.status_code == 413
    assert "larger than this server accepts" in api.get_json()["error"]


def test_no_secret_is_ever_rendered(client, settings_environ, sample_csv):
    secrets = [settings_environ["OPENAI_API_KEY"], settings_environ["SECRET_KEY"]]
    sha256 = uploaded_sha256(upload(client, sample_csv))
    launched = client.post(
        "/experiments/new",
        data={"csrf_token": csrf_token(client), "dataset": sha256, "models_other": "local-tfidf", "action": "launch"},
    )
    exp_id = launched.headers["Location"].rsplit("/", 1)[1]
    pages = [
        "/",
        "/experiments/new",
        f"/experiments/new?dataset={sha256}",
        f"/experiments/{exp_id}",
        f"/api/experiments/{exp_id}",
        "/api/experiments",
        "/api/openapi.json",
        "/healthz",
        f"/experiments/{exp_id}/record.json",
    ]
    for path in pages:
        body = client.get(path).get_data(as_text=True)
        for secret in secrets:
            assert secret not in body, f"a secret leaked into {path}"
    assert "OPENAI_API_KEY" not in json.dumps(client.get(f"/api/experiments/{exp_id}").get_json())


def test_security_headers(client):
    response = client.get("/experiments")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
