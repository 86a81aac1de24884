"""SmolLM2-135M-Instruct through the official openai SDK over real HTTP: zero-shot chat, SFT, checkpoints, cancel,
restart. The fine-tuning tests share one small job (30 one-word-label messages, 2 epochs) to stay near a minute."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from local_server import SYSTEM, Server, fine_tune, labelled_texts, training_file, wait_for_job

MODEL = "smollm2-135m-instruct"
LABELS = ("negative", "neutral", "positive")


def _chat(client, **request):
    # Loading the model and generating on a shared 2-core CPU can exceed the fixture client's 30 s timeout.
    return client.with_options(timeout=300).chat.completions.create(**request)


def _ask(client, model: str, text: str, max_tokens: int = 10):
    return _chat(
        client,
        model=model,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        temperature=0,
        max_tokens=max_tokens,
    )


def _answers(client, model: str, items) -> list[str]:
    """Asked concurrently, so the server batches them into few generate calls."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda item: _ask(client, model, item[0]).choices[0].message.content, items))


def _exact(answers: list[str], items) -> float:
    return sum(a.strip().lower() == label for a, (_, label) in zip(answers, items, strict=True)) / len(items)


def test_zero_shot_completion_returns_generated_text_with_usage(client):
    assert MODEL in [m.id for m in client.models.list()]
    question = [{"role": "user", "content": "Name a colour of the sky."}]
    first = _chat(client, model=MODEL, messages=question, temperature=0, max_tokens=6)
    again = _chat(client, model=MODEL, messages=question, temperature=0, max_tokens=6)
    choice = first.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.message.content == again.choices[0].message.content  # temperature 0 is greedy
    assert choice.finish_reason in ("stop", "length")
    assert 0 < first.usage.completion_tokens <= 6 and first.usage.prompt_tokens > len(question[0]["content"].split())
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert choice.finish_reason == "stop" or first.usage.completion_tokens == 6


def test_stop_sequence_and_sampling_seed(client):
    question = [{"role": "user", "content": "Write a sentence about airports."}]
    full = _chat(client, model=MODEL, messages=question, temperature=0, max_tokens=12)
    text = full.choices[0].message.content
    word = text.split()[1]
    cut = _chat(client, model=MODEL, messages=question, temperature=0, max_tokens=12, stop=[word])
    assert cut.choices[0].message.content == text[: text.find(word)]
    assert cut.choices[0].finish_reason == "stop"
    sampled = [
        _chat(client, model=MODEL, messages=question, temperature=1.0, top_p=0.9, max_tokens=12, seed=11)
        .choices[0]
        .message.content
        for _ in range(2)
    ]
    assert sampled[0] == sampled[1]


def test_logit_bias_outside_the_vocabulary_is_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        _chat(client, model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2, logit_bias={"49152": 5})
    assert caught.value.param == "logit_bias" and "49152" in caught.value.message


@pytest.fixture(scope="module")
def items():
    return labelled_texts(10, seed=21)


@pytest.fixture(scope="module")
def before(client, items) -> list[str]:
    return _answers(client, MODEL, items)


@pytest.fixture(scope="module")
def tuned(client, items, before):
    return fine_tune(client, MODEL, items, suffix="smol", seed=5, hyperparameters={"n_epochs": 2, "batch_size": 8})


@pytest.mark.slow
def test_fine_tuning_moves_answers_toward_the_labels(client, items, before, tuned):
    assert tuned.status == "succeeded", tuned.error
    after = _answers(client, tuned.fine_tuned_model, items)
    assert _exact(after, items) > _exact(before, items)
    assert _exact(after, items) >= 0.6, after
    metrics = [e.data for e in client.fine_tuning.jobs.list_events(tuned.id, limit=100) if e.type == "metrics"]
    assert len(metrics) == 2 * 4  # 2 epochs of 30 examples in batches of 8
    assert metrics[0]["train_loss"] < metrics[-1]["train_loss"]  # events are newest first


@pytest.mark.slow
def test_checkpoint_answers(client, items, tuned):
    checkpoints = client.fine_tuning.jobs.checkpoints.list(tuned.id).data
    assert len(checkpoints) == 2
    answer = _ask(client, checkpoints[-1].fine_tuned_model_checkpoint, items[0][0]).choices[0].message.content
    assert answer.strip().lower() in LABELS


@pytest.mark.slow
def test_cancel_mid_training_ends_cancelled(client):
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(10, seed=22))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(training_file=uploaded.id, model=MODEL, hyperparameters={"n_epochs": 20})
    deadline = time.monotonic() + 300
    while not any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job.id, limit=100)):
        assert time.monotonic() < deadline, "no training step reported"
        time.sleep(0.5)
    client.fine_tuning.jobs.cancel(job.id)
    job = wait_for_job(client, job.id, timeout=60)
    assert job.status == "cancelled" and job.fine_tuned_model is None


@pytest.mark.slow
def test_restart_keeps_the_fine_tuned_model(server, items, tuned):
    question = items[1][0]
    answer = _ask(server.client(), tuned.fine_tuned_model, question)
    server.stop(signal.SIGKILL)
    restarted = Server(server.data_dir)
    try:
        again = _ask(restarted.client(), tuned.fine_tuned_model, question)
        assert again.choices[0].message.content == answer.choices[0].message.content
    finally:
        restarted.stop(signal.SIGKILL)
