"""The JSON API: submit (multipart and JSON), list, get one, cancel, the OpenAPI document."""

from __future__ import annotations

import io

import pytest

from shared.store import Store


def submit_multipart(client, sample_csv: bytes, **fields):
    data = {
        "file": (io.BytesIO(sample_csv), "tweets.csv"),
        "text_column": "text",
        "label_column": "airline_sentiment",
        "models": ["local-tfidf", "local-minilm"],
        **fields,
    }
    return client.post("/api/experiments", data=data, content_type="multipart/form-data")


def test_multipart_submit_is_202_with_location(client, sample_csv, store: Store):
    response = submit_multipart(client, sample_csv, zero_shot="smollm2-135m-instruct", n_epochs="3")
    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == f"/api/experiments/{body['id']}"
    assert body["report"]["ok"] and body["report"]["n_examples"] == 100
    record = store.get_experiment(body["id"])
    assert [(run["base_model"], run["kind"]) for run in record["runs"]] == [
        ("local-tfidf", "fine-tuned"),
        ("local-minilm", "fine-tuned"),
        ("smollm2-135m-instruct", "zero-shot"),
    ]
    assert record["hyperparameters"]["n_epochs"] == 3
    assert record["sampling"]["train_counts"] == {"neutral": 34, "positive": 33, "negative": 33}


def test_json_submit_names_an_uploaded_dataset(client, sample_csv, store: Store):
    uploaded = client.post(
        "/api/datasets", data={"file": (io.BytesIO(sample_csv), "s.csv")}, content_type="multipart/form-data"
    )
    assert uploaded.status_code == 201
    sha256 = uploaded.get_json()["sha256"]
    response = client.post(
        "/api/experiments",
        json={
            "dataset": sha256,
            "models": ["local-tfidf"],
            "preset": "consistent",
            "sampling": {
                "mode": "random",
                "seed": 7,
                "train_counts": {"negative": 10, "positive": 10},
                "test_counts": {"negative": 5, "positive": 5},
            },
            "hyperparameters": {"suffix": "api", "seed": 3},
        },
    )
    assert response.status_code == 202, response.get_json()
    record = store.get_experiment(response.get_json()["id"])
    assert record["sampling"] == {
        "mode": "random",
        "train_counts": {"negative": 10, "positive": 10},
        "train_offset": 0,
        "test_counts": {"negative": 5, "positive": 5},
        "test_offset": 100,
        "seed": 7,
    }
    assert record["prompt"]["preset"] == "consistent"
    assert record["hyperparameters"]["suffix"] == "api" and record["hyperparameters"]["seed"] == 3


def test_validation_count_is_taken_by_json_and_multipart_and_too_many_rows_say_how_many(
    client, sample_csv, store: Store
):
    sha256 = client.post(
        "/api/datasets", data={"file": (io.BytesIO(sample_csv), "s.csv")}, content_type="multipart/form-data"
    ).get_json()["sha256"]
    response = client.post(
        "/api/experiments", json={"dataset": sha256, "models": ["local-tfidf"], "validation_count": 10}
    )
    assert response.status_code == 202, response.get_json()
    assert store.get_experiment(response.get_json()["id"])["sampling"]["validation_count"] == 10
    response = submit_multipart(client, sample_csv, validation_count="7")
    assert response.status_code == 202, response.get_json()
    assert store.get_experiment(response.get_json()["id"])["sampling"]["validation_count"] == 7
    too_many = client.post(
        "/api/experiments", json={"dataset": sha256, "models": ["local-tfidf"], "sampling": {"validation_count": 500}}
    )
    assert too_many.status_code == 400
    message = too_many.get_json()["fields"]["validation_count"]
    assert "validation" in message and "only" in message, message


def test_invalid_submissions_say_which_field(client, sample_csv):
    response = submit_multipart(client, sample_csv, models=[], learning_rate_multiplier="-1", label_column="nope")
    assert response.status_code == 400
    fields = response.get_json()["fields"]
    assert set(fields) >= {"models", "learning_rate_multiplier", "label_column"}
    assert "Available columns" in fields["label_column"]
    assert client.post("/api/experiments", json={"models": ["m"]}).status_code == 400
    missing = client.post("/api/experiments", json={"dataset": "f" * 64, "models": ["m"]})
    assert missing.status_code == 404 and "upload" in missing.get_json()["error"]
    assert client.post("/api/experiments", data="not json", content_type="application/json").status_code == 400
    shape = client.post("/api/experiments", json={"dataset": "f" * 64, "sampling": "balanced"})
    assert shape.status_code == 400 and "'sampling' must be a JSON object" in shape.get_json()["error"]
    bad_csv = client.post(
        "/api/experiments", data={"file": (io.BytesIO(b""), "e.csv"), "models": "m"}, content_type="multipart/form-data"
    )
    assert bad_csv.status_code == 400 and "empty" in bad_csv.get_json()["fields"]["file"]


def test_get_list_and_one_return_the_stored_record(client, sample_csv, store: Store):
    exp_id = submit_multipart(client, sample_csv).get_json()["id"]
    assert client.get(f"/api/experiments/{exp_id}").get_json() == store.get_experiment(exp_id)
    light = client.get(f"/api/experiments/{exp_id}?predictions=0").get_json()
    assert all(run["predictions"] == [] for run in light["runs"])
    listed = client.get("/api/experiments").get_json()["experiments"]
    assert [record["id"] for record in listed] == [exp_id]
    assert client.get("/api/experiments/exp_ffffffffffff").status_code == 404


def test_cancel(client, sample_csv, store: Store):
    exp_id = submit_multipart(client, sample_csv).get_json()["id"]
    response = client.post(f"/api/experiments/{exp_id}/cancel")
    assert response.status_code == 202
    assert store.get_experiment(exp_id)["status"] == "cancelled"
    assert client.post("/api/experiments/exp_ffffffffffff/cancel").status_code == 404


def test_openapi_document_lists_every_api_route(client, app):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    api_rules = {
        rule.rule.replace("<", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint != "api.openapi"
    }
    assert api_rules <= set(document["paths"])


@pytest.mark.parametrize("template", ["{text:d}", "{text:x}", "{text:,}", "{text:>1000000}", "{text!r}"])
def test_a_format_spec_in_the_template_is_a_400_naming_the_field(client, sample_csv, store: Store, template):
    response = submit_multipart(client, sample_csv, user_template=template)
    assert response.status_code == 400
    assert "only a bare {text}" in response.get_json()["fields"]["user_template"]
    assert store.list_experiments() == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_numbers_are_a_400_naming_the_field(client, sample_csv, store: Store, value):
    response = submit_multipart(client, sample_csv, learning_rate_multiplier=value)
    assert response.status_code == 400
    assert "finite" in response.get_json()["fields"]["learning_rate_multiplier"]
    sha256 = client.post(
        "/api/datasets", data={"file": (io.BytesIO(sample_csv), "s.csv")}, content_type="multipart/form-data"
    ).get_json()["sha256"]
    number = "NaN" if value.lower() == "nan" else value.replace("inf", "Infinity")
    json_body = client.post(
        "/api/experiments",
        data=f'{{"dataset": "{sha256}", "models": ["m"], "hyperparameters": {{"learning_rate_multiplier": {number}}}}}',
        content_type="application/json",
    )
    assert json_body.status_code == 400 and "finite" in json_body.get_json()["fields"]["learning_rate_multiplier"]
    assert store.list_experiments() == []


def test_five_thousand_model_names_are_a_cheap_400(client, sample_csv, store: Store):
    names = [f"model-{i}" for i in range(5_000)]
    response = submit_multipart(client, sample_csv, models=names[:900])  # Werkzeug allows 1,000 form parts
    assert response.status_code == 400
    assert "900 models" in response.get_json()["fields"]["models"]
    assert "TQ_MAX_MODELS" in response.get_json()["fields"]["models"]
    response = submit_multipart(client, sample_csv, models_other=", ".join(names))
    assert response.status_code == 400 and "5002 models" in response.get_json()["fields"]["models"]
    json_response = client.post(
        "/api/experiments", json={"dataset": store.list_datasets()[0]["sha256"], "zero_shot": names}
    )
    assert json_response.status_code == 400 and "TQ_MAX_MODELS" in json_response.get_json()["fields"]["models"]
    assert store.list_experiments() == []


def test_prompts_over_the_cap_are_a_400_naming_the_field(client, sample_csv, store: Store):
    long_prompt = "Classify. " * 3_000
    response = submit_multipart(client, sample_csv, system_prompt=long_prompt)
    assert response.status_code == 400 and "TQ_MAX_PROMPT_CHARS" in response.get_json()["fields"]["system_prompt"]
    response = submit_multipart(client, sample_csv, user_template=long_prompt + "{text}")
    assert response.status_code == 400 and "TQ_MAX_PROMPT_CHARS" in response.get_json()["fields"]["user_template"]
    assert store.list_experiments() == []


def test_too_many_classes_or_columns_are_a_400(make_app, store: Store):
    client = make_app(TQ_MAX_CLASSES="5", TQ_MAX_COLUMNS="3").test_client()
    many_labels = "text,label\n" + "".join(f"tweet {i},label{i % 6}\n" for i in range(240))
    response = submit_multipart(client, many_labels.encode(), label_column="label", models="local-tfidf")
    assert response.status_code == 400
    assert "6 classes" in response.get_json()["fields"]["label_column"]
    wide = "text,label,a,b\n" + "".join(f"tweet {i},x,1,2\n" for i in range(10))
    response = client.post(
        "/api/datasets", data={"file": (io.BytesIO(wide.encode()), "wide.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400 and "TQ_MAX_COLUMNS" in response.get_json()["fields"]["file"]
    assert store.list_experiments() == [] and len(store.list_datasets()) == 1
