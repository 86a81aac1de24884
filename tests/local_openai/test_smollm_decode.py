"""The batched decode loop against transformers' own `generate` as the reference, on a tiny random Llama model (the
architecture of SmolLM2, small enough to run in a moment): greedy tokens, each row ending at its end-of-turn token,
stop strings, token and time limits, the shared prompt prefix computed once and reused by the next batch,
logit_bias and seeded sampling."""

from __future__ import annotations

import pytest

from local_openai.trainers.base import ChatRequest
from local_openai.trainers.smollm_decode import decode
from local_openai.trainers.smollm_kv import PrefixCache

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SHARED = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 32]  # the prompt start every row shares, as an experiment's do
PROMPTS = [SHARED + [38, 4, 6], SHARED + [2], SHARED + [50, 28, 8, 41, 9, 7, 16], SHARED + [11, 12]]
NO_EOS = -1


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return transformers.LlamaForCausalLM(config).eval()


def _reference(model, prompt: list[int], max_new: int, eos: int = NO_EOS) -> list[int]:
    """`generate`'s greedy tokens for one prompt alone, up to (not including) `eos`."""
    with torch.inference_mode():
        output = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=eos if eos != NO_EOS else None,
            pad_token_id=0,
        )
    tokens = output[0, len(prompt) :].tolist()
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


def _text(tokens: list[int]) -> str:
    return "".join(f"<{t}>" for t in tokens)


def _decode(model, prompts, limits, requests=None, eos=NO_EOS, prefixes=None):
    requests = requests or [ChatRequest(messages=[], temperature=0) for _ in prompts]
    return decode(model, prompts, requests, limits, eos, _text, prefixes or PrefixCache())


def test_greedy_tokens_equal_generate_row_by_row(model):
    limits = [6, 9, 3, 12]
    decoded = _decode(model, PROMPTS, limits)
    assert [d.tokens for d in decoded] == [_reference(model, p, n) for p, n in zip(PROMPTS, limits, strict=True)]
    assert [d.reason for d in decoded] == ["length"] * 4


def test_each_row_ends_at_its_own_end_of_turn_token(model):
    eos = _reference(model, PROMPTS[0], 8)[2]  # what the first row writes third
    decoded = _decode(model, PROMPTS, [8] * 4, eos=eos)
    for prompt, result in zip(PROMPTS, decoded, strict=True):
        expected = _reference(model, prompt, 8, eos)
        assert result.tokens == expected
        assert result.reason == ("eos" if len(expected) < 8 else "length")
    assert decoded[0].reason == "eos" and len(decoded[0].tokens) == 2
    assert any(d.reason == "length" for d in decoded)  # the others went on past the first one's end


def test_a_stop_string_ends_its_row_once_written(model):
    expected = _reference(model, PROMPTS[2], 10)
    stop = _text(expected[3:5])  # spans two tokens
    requests = [ChatRequest(messages=[], temperature=0, stop=(stop,) if i == 2 else ()) for i in range(4)]
    decoded = _decode(model, PROMPTS, [10] * 4, requests)
    assert decoded[2].tokens == expected[:5] and decoded[2].reason == "stop"
    assert decoded[0].tokens == _reference(model, PROMPTS[0], 10) and decoded[0].reason == "length"


def test_a_time_limit_cuts_rows_with_length(model):
    requests = [ChatRequest(messages=[], temperature=0, time_limit_s=0.0 if i % 2 else None) for i in range(4)]
    decoded = _decode(model, PROMPTS, [5] * 4, requests)
    assert [len(d.tokens) for d in decoded] == [5, 1, 5, 1]
    assert all(d.reason == "length" for d in decoded)


def test_the_shared_prefix_is_cached_for_the_next_batch(model):
    prefixes = PrefixCache()
    _decode(model, PROMPTS[:2], [4, 4], prefixes=prefixes)
    assert prefixes.tokens == SHARED
    seen: list[int] = []
    hook = model.model.register_forward_pre_hook(
        lambda _, args, kwargs: seen.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        decoded = _decode(model, PROMPTS[2:], [4, 4], prefixes=prefixes)
    finally:
        hook.remove()
    assert max(seen) == len(PROMPTS[2]) - len(SHARED)  # the widest pass holds a row's own tokens only
    assert [d.tokens for d in decoded] == [_reference(model, p, 4) for p in PROMPTS[2:]]
    alone = _decode(model, [PROMPTS[1]], [4], prefixes=prefixes)  # a batch of one keeps its whole prompt
    assert alone[0].tokens == _reference(model, PROMPTS[1], 4) and prefixes.tokens == PROMPTS[1]


def test_logit_bias_bans_and_forces_tokens(model):
    first = _reference(model, PROMPTS[0], 1)[0]
    requests = [
        ChatRequest(messages=[], temperature=0, logit_bias={first: -100}),
        ChatRequest(messages=[], temperature=0, logit_bias={7: 100}),
    ]
    banned, forced = _decode(model, PROMPTS[:2], [3, 3], requests)
    assert first not in banned.tokens
    assert forced.tokens == [7, 7, 7]


def test_a_seeded_sample_does_not_depend_on_its_batch(model):
    seeded = ChatRequest(messages=[], temperature=1.5, top_p=0.9, seed=7)
    alone = _decode(model, [PROMPTS[0]], [8], [seeded])[0].tokens
    others = [ChatRequest(messages=[], temperature=0), ChatRequest(messages=[], temperature=1.0, seed=1)]
    batched = _decode(model, PROMPTS[:3], [8] * 3, [seeded, *others])[0].tokens
    assert batched == alone
    assert _decode(model, [PROMPTS[0]], [8], [ChatRequest(messages=[], temperature=1.5, seed=8)])[0].tokens != alone
