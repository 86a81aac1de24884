"""Stored datasets: `DELETE /api/datasets/<sha256>` and the TQ_DATASET_QUOTA_BYTES quota on uploads."""

from __future__ import annotations

import io

from web_helpers import csrf_token

from shared.store import Store


def upload_api(client, data: bytes, name: str = "t.csv"):
    return client.post("/api/datasets", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_delete_a_dataset(client, sample_csv, store: Store):
    sha256 = upload_api(client, sample_csv).get_json()["sha256"]
    response = client.delete(f"/api/datasets/{sha256}")
    assert response.status_code == 204 and response.get_data() == b""
    assert store.list_datasets() == [] and store.dataset_bytes() == 0
    assert client.delete(f"/api/datasets/{sha256}").status_code == 404
    assert client.delete(f"/api/datasets/{sha256.upper()}").status_code == 404
    assert client.get(f"/datasets/{sha256}/summary.json?text_column=text&label_column=airline").status_code == 404


def test_a_dataset_an_unfinished_experiment_needs_is_kept(client, sample_csv, store: Store):
    sha256 = upload_api(client, sample_csv).get_json()["sha256"]
    exp_id = client.post("/api/experiments", json={"dataset": sha256, "models": ["local-tfidf"]}).get_json()["id"]
    response = client.delete(f"/api/datasets/{sha256}")
    assert response.status_code == 409
    body = response.get_json()
    assert exp_id in body["error"] and body["experiments"] == [exp_id] and "cancel" in body["error"]
    assert store.get_dataset(sha256) == sample_csv
    assert client.post(f"/api/experiments/{exp_id}/cancel").status_code == 202
    assert client.delete(f"/api/datasets/{sha256}").status_code == 204
    assert client.get(f"/api/experiments/{exp_id}").status_code == 200, "the record outlives its dataset"


def test_uploads_past_the_quota_are_refused_with_how_to_free_space(make_app, sample_csv, store: Store):
    client = make_app(TQ_DATASET_QUOTA_BYTES=str(len(sample_csv) + 1024)).test_client()
    first = upload_api(client, sample_csv)
    assert first.status_code == 201
    assert upload_api(client, sample_csv, "same-bytes.csv").status_code == 201
    other = sample_csv + b"one more,neutral\n"
    for response in (
        upload_api(client, other),
        client.post(
            "/api/experiments",
            data={"file": (io.BytesIO(other), "o.csv"), "models": "m"},
            content_type="multipart/form-data",
        ),
    ):
        assert response.status_code == 507
        assert "TQ_DATASET_QUOTA_BYTES" in response.get_json()["error"]
        assert "DELETE /api/datasets/" in response.get_json()["error"]
    page = client.post(
        "/datasets",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(other), "o.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 507 and "TQ_DATASET_QUOTA_BYTES" in page.get_data(as_text=True)
    assert client.delete(f"/api/datasets/{first.get_json()['sha256']}").status_code == 204
    assert upload_api(client, other).status_code == 201
    assert store.experiments_needing(first.get_json()["sha256"]) == []
