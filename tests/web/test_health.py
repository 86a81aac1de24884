"""`/healthz` reports the shared health checks, the workers included.

With the web fixtures Redis answers and the provider (nothing listening) does not; with the session stack
(tests/conftest.py: real Redis and local_openai) the backend answers too, and a real worker can be started.
"""

from __future__ import annotations

from web_helpers import free_port_url


def checks_by_name(response) -> dict[str, dict]:
    return {check["name"]: check for check in response.get_json()["checks"]}


def test_healthz_reports_each_check_and_is_503_when_one_fails(client):
    response = client.get("/healthz")
    body = response.get_json()
    checks = checks_by_name(response)
    assert checks["redis"]["ok"] is True
    assert checks["backend"]["ok"] is False and checks["backend"]["fix"], "the provider is down in these tests"
    assert response.status_code == 503 and body["ok"] is False


def test_healthz_says_no_worker_answered_and_how_to_start_one(client):
    workers = checks_by_name(client.get("/healthz"))["workers"]
    assert workers["ok"] is False and "no worker answered" in workers["detail"]
    assert "celery -A worker worker -Q tunequeue,training,evaluation" in workers["fix"]


def test_a_missing_worker_fails_the_status_only_when_strict(make_app, tq_stack):
    client = make_app(REDIS_URL=tq_stack.redis_url, OPENAI_BASE_URL=tq_stack.openai_base_url).test_client()
    response = client.get("/healthz")
    checks = checks_by_name(response)
    assert checks["redis"]["ok"] and checks["backend"]["ok"] and not checks["workers"]["ok"]
    assert response.status_code == 200 and response.get_json()["ok"] is False
    assert client.get("/healthz?strict=1").status_code == 503


def test_with_a_worker_every_check_passes(make_app, tq_stack, start_worker):
    start_worker(name="health-worker", concurrency=1)
    client = make_app(REDIS_URL=tq_stack.redis_url, OPENAI_BASE_URL=tq_stack.openai_base_url).test_client()
    response = client.get("/healthz?strict=1")
    assert response.status_code == 200 and response.get_json()["ok"] is True, response.get_json()
    assert "health-worker-0@" in checks_by_name(response)["workers"]["detail"]


def test_healthz_needs_no_login_but_tells_strangers_only_the_status(make_app, settings_environ):
    locked = make_app(WEB_AUTH_TOKEN="t0ken").test_client()
    response = locked.get("/healthz")
    assert response.status_code == 503 and response.get_json() == {"status": "unavailable"}
    body = response.get_data(as_text=True)
    for detail in (settings_environ["REDIS_URL"], settings_environ["OPENAI_BASE_URL"], settings_environ["TQ_DATA_DIR"]):
        assert detail not in body


def test_strangers_get_only_ok_when_healthy(make_app, tq_stack):
    locked = make_app(
        WEB_AUTH_TOKEN="t0ken", REDIS_URL=tq_stack.redis_url, OPENAI_BASE_URL=tq_stack.openai_base_url
    ).test_client()
    response = locked.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_authenticated_callers_get_the_details(make_app):
    locked = make_app(WEB_AUTH_TOKEN="t0ken").test_client()
    response = locked.get("/healthz", headers={"Authorization": "Bearer t0ken"})
    assert response.status_code == 503 and response.get_json()["status"] == "unavailable"
    assert {"redis", "backend", "workers"} <= set(checks_by_name(response))


def test_pages_and_api_say_when_redis_is_down(make_app):
    down = make_app(REDIS_URL=free_port_url()).test_client()
    page = down.get("/experiments")
    assert page.status_code == 503 and "did not answer" in page.get_data(as_text=True)
    api = down.get("/api/experiments")
    assert api.status_code == 503 and "start Redis" in api.get_json()["error"]
