"""What one SmolLM2 request may cost everyone sharing the model, over real HTTP: the context window is enforced as
OpenAI does (400 context_length_exceeded), one batched generation runs at most LOCAL_OPENAI_GENERATION_TIME_LIMIT_S,
and a job keeps only its newest LOCAL_OPENAI_KEEP_CHECKPOINTS checkpoints."""

from __future__ import annotations

import signal

import openai
import pytest
from local_server import Server, fine_tune, labelled_texts

MODEL = "smollm2-135m-instruct"
CONTEXT_WINDOW = 8192


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    server = Server(
        tmp_path_factory.mktemp("smollm_limits"),
        env={"LOCAL_OPENAI_GENERATION_TIME_LIMIT_S": "1", "LOCAL_OPENAI_KEEP_CHECKPOINTS": "2"},
    )
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def client(limited):
    return limited.client().with_options(timeout=300)  # loading the model on a shared 2-core CPU takes a while


@pytest.mark.parametrize("max_tokens", [10**9, CONTEXT_WINDOW])
def test_max_tokens_past_the_context_window_is_refused(client, max_tokens):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hello"}], max_tokens=max_tokens
        )
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "messages"
    assert f"maximum context length is {CONTEXT_WINDOW} tokens" in caught.value.message


def test_a_prompt_longer_than_the_window_is_refused(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "airport " * 12_000}])
    assert caught.value.code == "context_length_exceeded"


def test_one_generation_is_cut_at_the_time_limit(client):
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count from 1 to 5000, separated by commas."}],
        temperature=0,
        max_tokens=1000,
    )
    assert answer.choices[0].finish_reason == "length"
    assert 0 < answer.usage.completion_tokens < 1000  # the 1 s limit ended it long before 1000 tokens


@pytest.mark.slow
def test_only_the_newest_checkpoints_are_kept(client, limited):
    job = fine_tune(client, MODEL, labelled_texts(4, seed=3), hyperparameters={"n_epochs": 4, "batch_size": 12})
    assert job.status == "succeeded", job.error
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [4, 3]  # newest first, the 2 kept of 4
    kept = {f"ckpt-step-{c.step_number}" for c in checkpoints}
    assert {p.name for p in (limited.data_dir / "models" / job.id).iterdir()} == kept | {"final"}
    assert not list((limited.data_dir / "models" / job.id / "final").glob("checkpoint-epoch-*"))
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(f"{job.fine_tuned_model}:ckpt-step-1")
    assert client.models.retrieve(checkpoints[-1].fine_tuned_model_checkpoint)
