"""Hostile request bodies are refused cheaply in OpenAI's error shape: size (413), message count and size, nesting."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import openai
import pytest
from local_server import labelled_texts, post_raw, training_file

MB = 1024 * 1024


def _chat_body(**fields) -> bytes:
    return json.dumps({"model": "local-tfidf", "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def test_a_body_over_the_limit_is_413_before_it_is_read(server):
    status, body = post_raw(f"{server.url}/chat/completions", _chat_body(padding="x" * (2 * MB)))
    assert status == 413 and body["error"]["type"] == "invalid_request_error"
    assert "1048576" in body["error"]["message"]


def test_a_chunked_body_without_length_is_cut_at_the_limit(server):
    """No Content-Length to check up front: the limit applies while the body is read."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    chunks = iter([b'{"model": "local-tfidf", "padding": "'] + [b"x" * 65536] * 40 + [b'"}'])
    connection.request(
        "POST", "/v1/chat/completions", body=chunks, encode_chunked=True, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 413 and json.load(response)["error"]["code"]


@pytest.mark.parametrize(
    "messages, param",
    [
        ([{"role": "user", "content": "a"}] * 2000, "messages"),
        ([{"role": "user", "content": "a" * 200_000}], "messages[0].content"),
        ([{"role": "user", "content": [{"type": "text", "text": "a" * 60_000}] * 3}], "messages[0].content"),
        ([{"role": "user", "content": {"text": "an object is not a content"}}], "messages[0].content"),
        ([{"role": "user", "content": 12}], "messages[0].content"),
    ],
)
def test_too_many_too_long_or_mistyped_messages_are_400(server, messages, param):
    status, body = post_raw(f"{server.url}/chat/completions", _chat_body(messages=messages))
    assert status == 400 and body["error"]["param"] == param, body


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
@pytest.mark.parametrize("path", ["/chat/completions", "/fine_tuning/jobs"])
def test_deeply_nested_json_is_400_not_500(server, depth, path):
    nested = "[" * depth + "]" * depth
    status, body = post_raw(server.url + path, f'{{"model": "local-tfidf", "metadata": {nested}}}'.encode())
    assert status == 400 and body["error"]["type"] == "invalid_request_error", body


def test_file_uploads_keep_their_own_larger_limit(client):
    big = training_file(labelled_texts(4, seed=1)) * (3 * MB // len(training_file(labelled_texts(4, seed=1))) + 1)
    assert len(big) > 3 * MB
    uploaded = client.files.create(file=("big.jsonl", big), purpose="fine-tune")
    assert uploaded.bytes == len(big)


def test_an_ordinary_request_still_works(client):
    with pytest.raises(openai.BadRequestError) as caught:  # answered, not refused for its size
        client.chat.completions.create(model="local-tfidf", messages=[{"role": "user", "content": "hi " * 1000}])
    assert caught.value.param == "model"
