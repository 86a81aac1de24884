"""Error responses keep the HTTP error's headers, and the API and /healthz answer errors in JSON."""

from __future__ import annotations


def test_405_on_a_page_keeps_allow(client):
    response = client.delete("/experiments")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.mimetype == "text/html"


def test_405_on_the_api_keeps_allow_and_is_json(client):
    response = client.put("/api/experiments")
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert "not allowed" in response.get_json()["error"]


def test_healthz_errors_are_json(client):
    response = client.post("/healthz")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.mimetype == "application/json" and response.get_json()["error"]


def test_a_missing_page_is_404_before_any_csrf_check(client):
    response = client.post("/no-such-page")
    assert response.status_code == 404
