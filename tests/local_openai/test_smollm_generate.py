"""The real SmolLM2 predictor, called directly: a batch of reference-experiment prompts (one shared instruction, a
different tweet each) answered as transformers' `generate` answers each prompt alone, and `logit_bias` steering the
answer onto a label. Loads the real model (about 12 s on 2 cores)."""

from __future__ import annotations

import pytest

from local_openai.trainers.base import ChatRequest
from local_openai.trainers.smollm import SmolLMTrainer
from shared.prompts import PRESETS, evaluation_messages

TWEETS = [
    "@united my flight was cancelled and nobody at the desk could help",
    "@SouthwestAir thanks for the smooth ride and the friendly crew!",
    "@JetBlue what time does the Boston lounge open?",
    "@AmericanAir 3 hours on the tarmac, again",
]


@pytest.fixture(scope="module")
def predictor():
    return SmolLMTrainer().load(None)


def _request(tweet: str, **options) -> ChatRequest:
    settings = {"temperature": 0, "max_tokens": 10, **options}
    return ChatRequest(messages=evaluation_messages(PRESETS["reference"], tweet), **settings)


def _generate_alone(predictor, request: ChatRequest) -> str:
    import torch

    tokenizer = predictor.base.tokenizer
    ids = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    with torch.inference_mode():
        output = predictor.base.model.generate(
            torch.tensor([ids]),
            max_new_tokens=request.max_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(output[0, len(ids) :], skip_special_tokens=True)


@pytest.mark.slow
def test_a_batch_answers_as_generate_answers_each_prompt(predictor):
    requests = [_request(tweet) for tweet in TWEETS]
    answers = predictor.complete(requests)
    assert [a.text for a in answers] == [_generate_alone(predictor, r) for r in requests]
    assert all(a.prompt_tokens > 40 and 0 < a.completion_tokens <= 10 for a in answers)


@pytest.mark.slow
def test_logit_bias_puts_the_answer_on_a_label(predictor):
    tokenizer = predictor.base.tokenizer
    labels = {label: tokenizer(label, add_special_tokens=False)["input_ids"][0] for label in ("negative", "neutral")}
    plain = predictor.complete([_request(TWEETS[1], max_tokens=1)])[0].text
    steered = predictor.complete(
        [_request(TWEETS[1], max_tokens=1, logit_bias={token: 100 for token in labels.values()})]
    )[0].text
    assert plain not in labels and steered in labels
