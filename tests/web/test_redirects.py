"""The login form's `next` target: only paths on this site, read the way a browser reads them."""

from __future__ import annotations

import pytest
from web_helpers import csrf_token

from web.redirects import safe_redirect_target

TOKEN = "web-token-for-tests"
OFF_SITE = [
    "/\t/evil.example/",
    "/\r\n/evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    " //evil.example",
    "/\t\\evil.example",
    "//evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "\x01//evil.example",
    "evil.example",
    "http:/evil.example",
    "\t//evil.example",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_targets_a_browser_would_read_as_off_site_fall_back(target):
    assert safe_redirect_target(target, "/home") == "/home"


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/experiments", "/experiments"),
        ("/experiments?show=all", "/experiments?show=all"),
        ("/a\tb", "/ab"),
        ("/x\\y", "/x/y"),
        ("", "/home"),
        (None, "/home"),
    ],
)
def test_paths_on_this_site_are_kept_as_the_browser_will_follow_them(target, expected):
    assert safe_redirect_target(target, "/home") == expected


@pytest.mark.parametrize("query", ["/%09/evil.example/", "/%0d%0a/evil.example/", "/%5Cevil.example/"])
def test_login_never_redirects_off_site(make_app, query):
    locked = make_app(WEB_AUTH_TOKEN=TOKEN).test_client()
    response = locked.post(f"/login?next={query}", data={"csrf_token": csrf_token(locked, "/login"), "token": TOKEN})
    assert response.status_code == 302 and response.headers["Location"] == "/"
