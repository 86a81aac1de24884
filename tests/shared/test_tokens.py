import socket

import pytest

from shared.tokens import base_model_name, cl100k, count_examples, count_messages, count_text, model_encoding

EXAMPLE = [
    {"role": "system", "content": "You classify."},
    {"role": "user", "content": "hello world"},
    {"role": "assistant", "content": "neutral"},
]


@pytest.fixture
def no_network(monkeypatch):
    """A mock at the process edge: any socket connection fails, proving counting is offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("tokens must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    cl100k.cache_clear()
    yield
    cl100k.cache_clear()


def test_cl100k_loads_offline_and_encodes_known_tokens(no_network):
    encoding = cl100k()
    assert encoding.name == "cl100k_base"
    assert encoding.n_vocab == 100277
    # cl100k_base token ids for "hello world" (published in tiktoken's own tests)
    assert encoding.encode("hello world") == [15339, 1917]
    assert count_text("hello world") == 2


def test_special_token_text_is_counted_as_text():
    assert count_text("<|endoftext|>") > 1


def test_message_overhead_follows_the_cookbook():
    content_tokens = sum(count_text(m["role"]) + count_text(m["content"]) for m in EXAMPLE)
    assert count_messages(EXAMPLE) == content_tokens + 3 * len(EXAMPLE) + 3
    named = [{"role": "user", "content": "hi", "name": "bob"}]
    assert count_messages(named) == count_text("user") + count_text("hi") + count_text("bob") + 1 + 3 + 3


def test_counts_are_exact_for_cl100k_models_and_estimates_otherwise():
    exact = count_examples([EXAMPLE, EXAMPLE], "gpt-3.5-turbo")
    assert exact.tokens == 2 * count_messages(EXAMPLE)
    assert exact.exact and exact.encoding == "cl100k_base" and exact.note == ""
    for model in ("gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini-2024-07-18:org:tq:abc", "gpt-4.1-nano"):
        estimate = count_examples([EXAMPLE], model)
        assert not estimate.exact
        assert "o200k_base" in estimate.note and "estimate" in estimate.note
    local = count_examples([EXAMPLE], "local-minilm")
    assert not local.exact and "estimate" in local.note
    assert local.to_dict() == {
        "tokens": local.tokens,
        "tokens_exact": False,
        "encoding": "cl100k_base",
        "tokens_note": local.note,
    }


def test_model_encoding_and_base_names():
    assert base_model_name("ft:gpt-3.5-turbo-0125:acme::8x") == "gpt-3.5-turbo-0125"
    assert base_model_name("local-tfidf") == "local-tfidf"
    assert model_encoding("gpt-4")[:2] == ("cl100k_base", True)
    assert model_encoding("gpt-4o")[:2] == ("o200k_base", False)
