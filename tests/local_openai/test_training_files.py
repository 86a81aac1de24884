"""Training files as local_openai reads them: split on "\\n" only, validated streaming within its configured caps."""

from __future__ import annotations

import json

from local_server import fine_tune, labelled_texts, training_file, wait_for_job

SEPARATORS = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"


def test_texts_holding_unicode_line_separators_train(client):
    items = [
        (f"{text}{SEPARATORS[i % len(SEPARATORS)]}!", label)
        for i, (text, label) in enumerate(labelled_texts(4, seed=5))
    ]
    job = fine_tune(client, "local-tfidf", items)
    assert job.status == "succeeded", job.error
    messages = [event.message for event in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert any(message.endswith(f": {len(items)} examples") for message in messages), messages


def test_a_line_over_the_configured_cap_fails_validation_unread(start_server):
    server = start_server(env={"LOCAL_OPENAI_MAX_TRAINING_LINE_BYTES": "2000"})
    client = server.client()
    items = labelled_texts(4, seed=6)
    items[3] = ("long " * 1000, items[3][1])
    uploaded = client.files.create(file=("long.jsonl", training_file(items)), purpose="fine-tune")
    job = wait_for_job(client, client.fine_tuning.jobs.create(training_file=uploaded.id, model="local-tfidf").id)
    assert job.status == "failed" and job.error.param == "training_file"
    assert "line 4: is 5," in job.error.message and "over the limit of 2,000 bytes per example" in job.error.message


def test_an_example_over_the_configured_message_cap_fails_validation(start_server):
    client = start_server(env={"LOCAL_OPENAI_MAX_TRAINING_MESSAGES": "3"}).client()
    lines = training_file(labelled_texts(4, seed=7)).splitlines()
    chatty = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}] * 2
    lines[0] = json.dumps({"messages": chatty}).encode()
    uploaded = client.files.create(file=("chatty.jsonl", b"\n".join(lines) + b"\n"), purpose="fine-tune")
    job = wait_for_job(client, client.fine_tuning.jobs.create(training_file=uploaded.id, model="local-tfidf").id)
    assert job.status == "failed"
    assert "line 1: has 4 messages, over the limit of 3 per example" in job.error.message
