"""JSON request bodies: nesting deep enough to exhaust the parser's recursion is a clear 400, not a 500."""

from __future__ import annotations

import io
import json

import pytest


@pytest.fixture
def sha256(client, sample_csv) -> str:
    return client.post(
        "/api/datasets", data={"file": (io.BytesIO(sample_csv), "s.csv")}, content_type="multipart/form-data"
    ).get_json()["sha256"]


@pytest.mark.parametrize("depth", [1_000, 30_000])
def test_deeply_nested_json_is_a_clear_400(client, depth):
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        response = client.post("/api/experiments", data=body, content_type="application/json")
        assert response.status_code == 400
        assert "nested" in response.get_json()["error"]


def test_nesting_the_parser_accepts_is_still_refused_before_use(client, sha256):
    """500 levels parse, but turning them into form fields (str of a nested list) would recurse again."""
    nested = "[" * 500 + "]" * 500
    body = f'{{"dataset": "{sha256}", "models": ["local-tfidf"], "text_column": {nested}}}'
    response = client.post("/api/experiments", data=body, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.get_json()["error"]


def test_ordinary_bodies_still_parse(client, sha256):
    body = {"dataset": sha256, "models": ["local-tfidf"], "sampling": {"train_counts": {"negative": 10}}}
    response = client.post("/api/experiments", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (202, 400)
    assert "nested" not in response.get_json().get("error", "")


def test_a_body_that_is_not_json_says_so(client):
    response = client.post("/api/experiments", data="not json", content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["error"]
