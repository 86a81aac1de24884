"""Experiment ids and dataset hashes in URLs and fields: anything not shaped like one is a 404 before Redis is asked.

`exp_<12 hex>:items` is a real Redis key (the experiment's items), so a view that built keys from an unchecked id
would read it as an experiment record.
"""

from __future__ import annotations

import pytest
from web_helpers import csrf_token, upload, uploaded_sha256

from shared.store import Store


@pytest.fixture
def sneaky_id(store: Store) -> str:
    exp_id = "exp_0123456789ab"
    store.save_items(exp_id, {"train": [], "test": []})
    return f"{exp_id}:items"


@pytest.mark.parametrize(
    "path",
    [
        "/experiments/{id}",
        "/experiments/{id}/results",
        "/experiments/{id}/charts/comparison.svg",
        "/experiments/{id}/charts/confusion/run-1.svg",
        "/experiments/{id}/predictions.csv",
        "/experiments/{id}/record.json",
        "/api/experiments/{id}",
    ],
)
def test_malformed_experiment_ids_are_404_on_every_route(client, sneaky_id, path):
    for exp_id in (sneaky_id, "exp_0123456789AB", "exp_x", "exp_0123456789ab%0a"):
        response = client.get(path.format(id=exp_id))
        assert response.status_code == 404, (path, exp_id)
        assert "not an experiment id" in response.get_data(as_text=True)


def test_malformed_ids_are_404_on_cancel(client, sneaky_id):
    assert client.post(f"/api/experiments/{sneaky_id}/cancel").status_code == 404
    assert client.post(f"/experiments/{sneaky_id}/cancel", data={"csrf_token": csrf_token(client)}).status_code == 404


def test_malformed_dataset_hashes_are_404(client, sample_csv):
    sha256 = uploaded_sha256(upload(client, sample_csv))
    for bad in (sha256.upper(), sha256[:-1], f"{sha256}:name", "*"):
        assert client.get(f"/datasets/{bad}/summary.json").status_code == 404
        assert client.get(f"/experiments/new?dataset={bad}").status_code == 404
        response = client.post("/api/experiments", json={"dataset": bad, "models": ["local-tfidf"]})
        assert response.status_code == 404 and "not a dataset hash" in response.get_json()["error"]
    assert client.get(f"/datasets/{sha256}/summary.json?text_column=text&label_column=airline").status_code == 200
