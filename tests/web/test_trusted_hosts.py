"""Only configured host names are served (TQ_TRUSTED_HOSTS), so a DNS-rebinding page cannot use the loopback
CSRF exemption of the JSON API."""

from __future__ import annotations

import pytest

from shared.settings import load_settings

BODY = {"dataset": "0" * 64, "models": ["local-tfidf"]}


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:8080", "[::1]:5000", "[::1]"])
def test_loopback_names_are_trusted_by_default(client, host):
    assert client.get("/experiments", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:5000", "localhost.evil.example", "[::2]:5000", "127.0.0.2"]
)
def test_other_hosts_get_a_clear_400(client, host):
    page = client.get("/experiments", headers={"Host": host})
    assert page.status_code == 400 and "TQ_TRUSTED_HOSTS" in page.get_data(as_text=True)
    api = client.get("/api/experiments", headers={"Host": host})
    assert api.status_code == 400 and "TQ_TRUSTED_HOSTS" in api.get_json()["error"]


def test_a_dns_rebinding_page_cannot_drive_the_local_api(client):
    """The page's origin is its own name resolved to 127.0.0.1: same Origin and Host, loopback peer."""
    rebound = client.post(
        "/api/experiments", json=BODY, headers={"Host": "evil.example:5000", "Origin": "http://evil.example:5000"}
    )
    assert rebound.status_code == 400 and "TQ_TRUSTED_HOSTS" in rebound.get_json()["error"]
    local = client.post("/api/experiments", json=BODY, headers={"Host": "127.0.0.1:5000"})
    assert local.status_code == 404, "a local script still skips CSRF and reaches the view"


def test_configured_names_and_subdomains(make_app):
    client = make_app(TQ_TRUSTED_HOSTS="tq.example.com, .corp.example").test_client()
    assert client.get("/experiments", headers={"Host": "tq.example.com:443"}).status_code == 200
    assert client.get("/experiments", headers={"Host": "a.corp.example"}).status_code == 200
    assert client.get("/experiments", headers={"Host": "localhost"}).status_code == 400


def test_the_healthz_probe_of_a_listed_host_answers(make_app):
    client = make_app(TQ_TRUSTED_HOSTS="localhost,127.0.0.1,::1,tq.example.com").test_client()
    assert client.get("/healthz", headers={"Host": "127.0.0.1:5000"}).status_code in (200, 503)
    assert client.get("/healthz", headers={"Host": "other.example"}).status_code == 400


def test_settings_parse_trusted_hosts():
    assert load_settings({}).trusted_hosts == ("localhost", "127.0.0.1", "::1")
    parsed = load_settings({"TQ_TRUSTED_HOSTS": " TQ.Example.com ,[::1],, 10.0.0.5"}).trusted_hosts
    assert parsed == ("tq.example.com", "::1", "10.0.0.5")
