"""`run --data` with a Parquet or JSON Lines file: checked and stored under its name, then prepared in that format;
a broken file is refused before anything is queued, naming the file and the line."""

from __future__ import annotations

import pandas as pd
import pytest
import redis
from worker_helpers import SAMPLE_CSV

from shared.prepare import prepare
from shared.settings import get_settings
from shared.store import Store
from worker.commands.errors import CliError
from worker.commands.spec import build_spec


@pytest.fixture
def store(redis_url: str) -> Store:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return Store(client)


@pytest.mark.parametrize("name", ["tweets.parquet", "tweets.jsonl"])
def test_data_in_parquet_or_jsonl_is_stored_under_its_name_and_prepared(name, tmp_path, store: Store):
    tweets = pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)
    path = tmp_path / name
    if name.endswith(".parquet"):
        tweets.to_parquet(path, index=False)
    else:
        tweets.to_json(path, orient="records", lines=True, force_ascii=False)
    specs = [
        build_spec(store, data, "text", "airline_sentiment", ["local-tfidf"], [], "reference")
        for data in (path, SAMPLE_CSV)
    ]
    assert specs[0].dataset_name == name and store.dataset_name(specs[0].dataset_sha256) == name
    splits = [prepare(store, store.create_experiment(spec, get_settings().openai_base_url)) for spec in specs]
    assert splits[0] == splits[1]


def test_a_broken_jsonl_file_is_refused_naming_the_file_and_line(tmp_path, store: Store):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "a", "airline_sentiment": "neutral"}\n{"text": "b",\n')
    with pytest.raises(CliError, match=r"broken\.jsonl: Line 2 of the JSON Lines file is not valid JSON"):
        build_spec(store, path, "text", "airline_sentiment", ["local-tfidf"], [], "reference")
    assert store.list_datasets() == []
