"""`/healthz` reports the shared health checks: Redis answers here, the provider (nothing listening) does not."""
from __future__ import annotations

from web_helpers import free_port_url


def test_healthz_reports_each_check_and_is_503_when_one_fails(client):
    response = client.get("/healthz")
    body = response.get_json()
    checks = {check["name"]: check for check in body["checks"]}
    assert checks["redis"]["ok"] is True
    assert any(not check["ok"] and check["fix"] for check in body["checks"]), "the provider is down in these tests"
    assert response.status_code == 503 and body["ok"] is False


def test_healthz_needs_no_login(make_app):
    locked = make_app(WEB_AUTH_TOKEN="t0ken").test_client()
    response = locked.get("/healthz")
    assert response.status_code == 503 and response.get_json()["checks"]


def test_pages_and_api_say_when_redis_is_down(make_app):
    down = make_app(REDIS_URL=free_port_url()).test_client()
    page = down.get("/experiments")
    assert page.status_code == 503 and "did not answer" in page.get_data(as_text=True)
    api = down.get("/api/experiments")
    assert api.status_code == 503 and "start Redis" in api.get_json()["error"]
