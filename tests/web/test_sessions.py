"""Login sessions end on logout (a copied cookie too), on a WEB_AUTH_TOKEN change and after TQ_SESSION_LIFETIME_S;
login attempts are rate limited in Redis. On the real Redis of the web fixtures."""

from __future__ import annotations

import time

import pytest
from web_helpers import csrf_token

TOKEN = "web-token-for-tests"


def log_in(client, token: str = TOKEN):
    return client.post("/login", data={"csrf_token": csrf_token(client, "/login"), "token": token})


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_a_cookie_copied_before_logout_no_longer_works_after_it(make_app):
    app = make_app(WEB_AUTH_TOKEN=TOKEN)
    browser, thief = app.test_client(), app.test_client()
    assert log_in(browser).status_code == 302
    thief.set_cookie("session", session_cookie(browser))
    assert thief.get("/experiments").status_code == 200, "the copy works while the session lives"
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/experiments")})
    assert thief.get("/experiments").status_code == 302
    assert thief.get("/api/experiments").status_code == 401


def test_logging_in_again_after_a_logout_works(make_app):
    client = make_app(WEB_AUTH_TOKEN=TOKEN).test_client()
    log_in(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/experiments")})
    assert log_in(client).status_code == 302
    assert client.get("/experiments").status_code == 200


def test_rotating_the_token_ends_every_session(make_app):
    before = make_app(WEB_AUTH_TOKEN=TOKEN).test_client()
    log_in(before)
    after = make_app(WEB_AUTH_TOKEN="a-new-token").test_client()
    after.set_cookie("session", session_cookie(before))
    assert after.get("/experiments").status_code == 302
    assert log_in(after, "a-new-token").status_code == 302 and after.get("/experiments").status_code == 200


def test_sessions_expire_after_the_configured_lifetime(make_app):
    client = make_app(WEB_AUTH_TOKEN=TOKEN, TQ_SESSION_LIFETIME_S="600").test_client()
    response = log_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie, "the browser is told when the session ends"
    assert client.get("/experiments").status_code == 200
    with client.session_transaction() as session:
        session["authenticated_at"] = time.time() - 601
    assert client.get("/experiments").status_code == 302, "a session older than its lifetime is refused"


def test_default_session_lifetime_is_twelve_hours(app):
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 12 * 3600


@pytest.fixture
def limited(make_app):
    return make_app(WEB_AUTH_TOKEN=TOKEN, TQ_LOGIN_RATE_LIMIT="3 per minute").test_client()


def test_login_attempts_are_limited_with_a_clear_429(limited):
    for _ in range(3):
        assert log_in(limited, "guess").status_code == 401
    refused = log_in(limited, TOKEN)
    assert refused.status_code == 429
    assert "Too many login attempts" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert limited.get("/login").status_code == 200, "showing the form is not an attempt"


def test_the_login_count_is_kept_in_redis(limited, store):
    log_in(limited, "guess")
    assert any(key.startswith(b"tq:ratelimit") for key in store.client.keys("*"))
