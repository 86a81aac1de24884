"""Re-run, retry and cross-experiment comparison through the API and the pages, on a real Redis (no worker runs
here: a re-run or retry is only queued), every response validated against the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from scored_runs import always, right, scored_experiment
from test_openapi import checked

from shared.store import Store


def rerun(client, exp_id: str, **kwargs):
    return checked(client, client.post(f"/api/experiments/{exp_id}/rerun", **kwargs))


def test_a_rerun_is_queued_with_the_same_dataset_and_split_and_links_back(client, store: Store):
    exp_id = scored_experiment(store, [("local-tfidf", right)])
    response = rerun(client, exp_id, json={"models": ["local-minilm"], "seed": 11})
    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == body["url"] == f"/api/experiments/{body['id']}"
    assert body["rerun_of"] == exp_id and body["id"] != exp_id
    original, new = store.get_experiment(exp_id), checked(client, client.get(body["url"])).get_json()
    assert new["rerun_of"] == exp_id and new["status"] == "queued"
    assert [run["base_model"] for run in new["runs"]] == ["local-minilm"]
    assert new["hyperparameters"]["seed"] == 11
    assert (new["dataset"]["sha256"], new["sampling"], new["prompt"]) == (
        original["dataset"]["sha256"],
        original["sampling"],
        original["prompt"],
    )
    same = rerun(client, exp_id)
    assert same.status_code == 202
    assert [run["base_model"] for run in store.get_experiment(same.get_json()["id"])["runs"]] == ["local-tfidf"]


def test_rerun_errors(client, store: Store):
    exp_id = scored_experiment(store, [("local-tfidf", right)])
    bad = rerun(client, exp_id, json={"models": "local-tfidf"})
    assert bad.status_code == 400 and "models" in bad.get_json()["fields"]
    assert rerun(client, exp_id, json=[1]).status_code == 400
    assert rerun(client, exp_id, json={"sampling": {"mode": "random"}}).status_code == 400
    assert rerun(client, "exp_ffffffffffff").status_code == 404
    assert client.post("/api/experiments/exp_../rerun").status_code == 404
    store.delete_dataset(store.get_experiment(exp_id)["dataset"]["sha256"])
    gone = rerun(client, exp_id)
    assert gone.status_code == 409 and "Upload the same file again" in gone.get_json()["error"]


def test_retry_queues_a_failed_run_and_refuses_others(client, store: Store):
    exp_id = scored_experiment(store, [("local-tfidf", right), ("local-minilm", right)])
    store.update_run(
        exp_id,
        "run-2",
        status="failed",
        error="boom",
        metrics=None,
        job_status="succeeded",
        fine_tuned_model="ft:local-minilm:x",
    )
    refused = checked(client, client.post(f"/api/experiments/{exp_id}/runs/run-1/retry"))
    assert refused.status_code == 409 and "only a failed or cancelled run" in refused.get_json()["error"]
    queued = checked(client, client.post(f"/api/experiments/{exp_id}/runs/run-2/retry"))
    assert queued.status_code == 202 and queued.headers["Location"] == f"/api/experiments/{exp_id}"
    assert queued.get_json()["evaluation_only"] is True and queued.get_json()["attempt"] == 2
    assert store.get_run(exp_id, "run-2")["status"] == "pending"
    assert checked(client, client.post(f"/api/experiments/{exp_id}/runs/run-2/retry")).status_code == 409
    assert checked(client, client.post(f"/api/experiments/{exp_id}/runs/run-7/retry")).status_code == 404
    assert checked(client, client.post("/api/experiments/exp_ffffffffffff/runs/run-1/retry")).status_code == 404
    for malformed in ("run-0", "run-x", "run-1%0a", "..%2Frun-1"):
        assert client.post(f"/api/experiments/{exp_id}/runs/{malformed}/retry").status_code == 404, malformed


def test_compare_across_experiments_returns_the_paired_test(client, store: Store):
    first = scored_experiment(store, [("local-tfidf", right)])
    second = scored_experiment(store, [("local-minilm", always("neutral"))])
    response = checked(client, client.get(f"/api/compare?runs={first}:run-1,{second}:run-1"))
    assert response.status_code == 200
    body = response.get_json()
    (pair,) = body["comparisons"]
    assert pair["runs"] == [f"{first}:run-1", f"{second}:run-1"] and pair["p_value"] == pytest.approx(2 / 1024)
    assert body["best_run"] == f"{first}:run-1" and [run["base_model"] for run in body["runs"]] == [
        "local-tfidf",
        "local-minilm",
    ]
    repeated = checked(client, client.get(f"/api/compare?runs={first}:run-1&runs={second}:run-1"))
    assert repeated.get_json()["comparisons"] == body["comparisons"]


def test_compare_errors_say_what_is_wrong(client, store: Store):
    first = scored_experiment(store, [("local-tfidf", right)])
    moved = scored_experiment(store, [("local-tfidf", right)], test_offset=120)
    differs = checked(client, client.get(f"/api/compare?runs={first}:run-1,{moved}:run-1"))
    assert differs.status_code == 400 and "different test rows" in differs.get_json()["error"]
    for query in (
        "",
        "?runs=",
        f"?runs={first}:run-1",
        f"?runs={first}:run-1,exp_123:run-1",
        f"?runs={first}:run-1,{moved}:../x",
    ):
        assert checked(client, client.get(f"/api/compare{query}")).status_code == 400, query
    missing = checked(client, client.get(f"/api/compare?runs={first}:run-1,exp_ffffffffffff:run-1"))
    assert missing.status_code == 404
    assert checked(client, client.get(f"/api/compare?runs={first}:run-1,{moved}:run-5")).status_code == 404


def test_the_document_describes_the_new_endpoints(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/experiments/{exp_id}/rerun", "/api/experiments/{exp_id}/runs/{run_id}/retry", "/api/compare"} <= set(
        paths
    )
    assert paths["/api/experiments/{exp_id}/runs/{run_id}/retry"]["post"]["responses"].keys() >= {"202", "409"}


# ------------------------------------------------------------------------------------------ pages


def test_compare_page_lists_runs_and_shows_the_comparison(client, store: Store):
    first = scored_experiment(store, [("local-tfidf", right)])
    second = scored_experiment(store, [("local-minilm", always("neutral"))])
    form = client.get("/compare").get_data(as_text=True)
    assert f'value="{first}:run-1"' in form and f'value="{second}:run-1"' in form
    page = client.get(f"/compare?runs={first}:run-1&runs={second}:run-1")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"{first}:run-1 is better than {second}:run-1 by 0.67" in text
    assert re.search(r"33\.3%\s*<small[^>]*>\[\d+\.\d%–\d+\.\d%\]", text)
    bad = client.get(f"/compare?runs={first}:run-1")
    assert bad.status_code == 400 and "name at least two runs" in bad.get_data(as_text=True)


def test_dataset_page_is_a_leaderboard_linking_to_compare(client, store: Store):
    first = scored_experiment(store, [("local-tfidf", always("neutral")), ("local-minilm", right)])
    sha256 = store.get_experiment(first)["dataset"]["sha256"]
    page = client.get(f"/datasets/{sha256}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "airline_tweets_sample.csv" in text
    assert text.index(f"{first}</a> run-2") < text.index(f"{first}</a> run-1")
    assert 'action="/compare"' in text and f'value="{first}:run-2"' in text
    assert client.get(f"/datasets/{'0' * 64}").status_code == 404
    assert client.get("/datasets/not-a-hash").status_code == 404
    assert f'href="/datasets/{sha256}"' in client.get(f"/experiments/{first}").get_data(as_text=True)


def test_experiment_page_buttons_rerun_and_retry(client, store: Store):
    from web_helpers import csrf_token

    exp_id = scored_experiment(store, [("local-tfidf", right), ("local-minilm", right)])
    store.update_run(exp_id, "run-2", status="cancelled", metrics=None)
    page = client.get(f"/experiments/{exp_id}").get_data(as_text=True)
    assert f'action="/experiments/{exp_id}/rerun"' in page
    assert f'action="/experiments/{exp_id}/runs/run-2/retry"' in page
    assert f'action="/experiments/{exp_id}/runs/run-1/retry"' not in page
    token = csrf_token(client, f"/experiments/{exp_id}")
    assert client.post(f"/experiments/{exp_id}/rerun").status_code == 400  # no CSRF token
    moved = client.post(f"/experiments/{exp_id}/rerun", data={"csrf_token": token})
    new_id = moved.headers["Location"].rsplit("/", 1)[1]
    assert moved.status_code == 302 and store.get_experiment(new_id)["rerun_of"] == exp_id
    assert f'href="/experiments/{exp_id}" id="rerun-of"' in client.get(f"/experiments/{new_id}").get_data(as_text=True)
    retried = client.post(f"/experiments/{exp_id}/runs/run-2/retry", data={"csrf_token": token})
    assert retried.status_code == 302 and store.get_run(exp_id, "run-2")["status"] == "pending"
