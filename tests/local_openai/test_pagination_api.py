"""Cursor pagination (`after`, `limit`, `has_more`) and the job list's metadata filter."""

from __future__ import annotations

import openai
import pytest
from local_server import labelled_texts, training_file, wait_for_job


def test_files_pages_follow_after_cursor(client):
    ids = {
        client.files.create(file=(f"f{i}.jsonl", training_file(labelled_texts(4, seed=i))), purpose="fine-tune").id
        for i in range(3)
    }
    first = client.files.list(limit=2, purpose="fine-tune")
    assert len(first.data) == 2 and first.has_more
    walked = [f.id for f in client.files.list(limit=2, purpose="fine-tune")]  # the SDK follows `after` itself
    assert ids <= set(walked) and len(walked) == len(set(walked))
    client.files.delete(first.data[0].id)
    assert first.data[0].id not in [f.id for f in client.files.list()]


def test_jobs_pages_and_metadata_filter(client):
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(4, seed=9))), purpose="fine-tune")
    created = [
        client.fine_tuning.jobs.create(
            training_file=uploaded.id, model="local-tfidf", metadata={"batch": "pages", "n": str(i)}
        )
        for i in range(3)
    ]
    for job in created:
        wait_for_job(client, job.id)
    page = client.fine_tuning.jobs.list(limit=2, metadata={"batch": "pages"})
    assert len(page.data) == 2 and page.has_more
    assert [j.id for j in page.data] == [created[2].id, created[1].id]  # newest first
    rest = client.fine_tuning.jobs.list(limit=2, after=page.data[-1].id, metadata={"batch": "pages"})
    assert [j.id for j in rest.data] == [created[0].id] and rest.has_more is False
    only = client.fine_tuning.jobs.list(metadata={"batch": "pages", "n": "1"}).data
    assert [j.id for j in only] == [created[1].id]


def test_events_paginate(client):
    uploaded = client.files.create(file=("t.jsonl", training_file(labelled_texts(4, seed=8))), purpose="fine-tune")
    job = wait_for_job(client, client.fine_tuning.jobs.create(training_file=uploaded.id, model="local-tfidf").id)
    everything = [e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data]
    walked = [e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=2)]
    assert walked == everything and len(everything) > 3


def test_unknown_cursor_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.list(after="ftjob-doesnotexist")
    assert caught.value.body["param"] == "after"
