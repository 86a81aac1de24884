"""The OpenAPI 3.1 description of the JSON API, served at `/api/openapi.json`.

The body schemas are generated from the types the code builds its records and responses with
(`shared.record_types`, `web.api_bodies`) and the preset names from `shared.prompts.PRESETS`, so the document cannot
drift from the code; the multipart field names come from the mapping the API itself uses (`web.api_fields`).
"""

from __future__ import annotations

from typing import Any, get_type_hints

from shared.comparison import MAX_COMPARED_RUNS, CrossComparisonBody
from shared.prompts import PRESETS
from shared.record_types import SCHEMA_VERSION, ExperimentRecord
from shared.records import HYPERPARAMETER_FIELDS
from web.api_bodies import (
    CancelBody,
    DatasetInUseBody,
    ErrorBody,
    ExperimentListBody,
    HyperparametersRequest,
    PresetName,
    RerunBody,
    RerunRequest,
    RetryBody,
    SamplingRequest,
    StoredDatasetBody,
    SubmitRequest,
    SubmittedBody,
)
from web.api_fields import PROMPT_KEYS, SAMPLING_KEYS
from web.json_schema import JsonSchema, SchemaBuilder

_EXP_ID = {
    "name": "exp_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^exp_[0-9a-f]{12}$"},
}
_RUN_ID = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^run-[1-9][0-9]{0,3}$"},
}
_SHA256 = {"name": "sha256", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}


def _preset_schema() -> JsonSchema:
    return {"type": "string", "enum": list(PRESETS), "description": "A prompt preset"}


def _multipart_schema(requests: SchemaBuilder) -> JsonSchema:
    """The form fields a multipart submission takes: the JSON body's keys under the form's names."""
    top = get_type_hints(SubmitRequest)
    properties: dict[str, JsonSchema] = {
        "file": {"type": "string", "format": "binary", "description": "UTF-8 CSV with a header line"},
        "dataset": {"type": "string", "description": "sha256 of an uploaded dataset, instead of `file`"},
        "text_column": requests.schema(top["text_column"]),
        "label_column": requests.schema(top["label_column"]),
        "models": {"type": "array", "items": {"type": "string"}, "description": "Base models to fine-tune"},
        "zero_shot": {"type": "array", "items": {"type": "string"}, "description": "Models evaluated without training"},
        **{key: requests.schema(top[key]) for key in PROMPT_KEYS},
    }
    for hints, keys in (
        (get_type_hints(SamplingRequest), SAMPLING_KEYS),
        (get_type_hints(HyperparametersRequest), tuple(HYPERPARAMETER_FIELDS.items())),
    ):
        properties.update({name: requests.schema(hints[key]) for key, name in keys})
    return {
        "type": "object",
        "properties": properties,
        "description": "Send `file` or `dataset`. Per-class counts are fields named train_count:<label> and "
        "test_count:<label>.",
    }


def openapi_document() -> dict[str, Any]:
    responses = SchemaBuilder(closed=True)
    requests = SchemaBuilder(closed=False, named={PresetName: _preset_schema()})

    def json_body(body_type: type, description: str) -> JsonSchema:
        return {"description": description, "content": {"application/json": {"schema": responses.schema(body_type)}}}

    error = json_body(ErrorBody, "What is wrong and how to fix it")
    submit_json = requests.schema(SubmitRequest)
    multipart = _multipart_schema(requests)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "tunequeue API",
            "version": str(SCHEMA_VERSION),
            "description": "Submit fine-tuning experiments, follow them and read their results. With "
            "WEB_AUTH_TOKEN set, send 'Authorization: Bearer <token>'.",
        },
        "security": [{"bearer": []}, {}],
        "paths": {
            "/api/datasets": {
                "post": {
                    "summary": "Upload a CSV; returns its sha256 for JSON submissions",
                    "requestBody": {
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            }
                        }
                    },
                    "responses": {
                        "201": json_body(StoredDatasetBody, "Stored"),
                        "400": error,
                        "413": error,
                        "507": error,
                    },
                }
            },
            "/api/datasets/{sha256}": {
                "delete": {
                    "summary": "Delete a stored dataset no unfinished experiment needs (frees TQ_DATASET_QUOTA_BYTES)",
                    "parameters": [_SHA256],
                    "responses": {
                        "204": {"description": "Deleted"},
                        "404": error,
                        "409": json_body(DatasetInUseBody, "Unfinished experiments still need it"),
                    },
                }
            },
            "/api/experiments": {
                "post": {
                    "summary": "Submit an experiment",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": multipart},
                            "application/json": {"schema": submit_json},
                        },
                    },
                    "responses": {
                        "202": {
                            **json_body(SubmittedBody, "Queued; Location points at the record"),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        "400": error,
                        "404": error,
                        "413": error,
                        "507": error,
                    },
                },
                "get": {
                    "summary": "List experiments, newest first (without predictions)",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}
                    ],
                    "responses": {"200": json_body(ExperimentListBody, "The experiments")},
                },
            },
            "/api/experiments/{exp_id}": {
                "get": {
                    "summary": "The experiment record, as `python -m worker show ID --json` prints it",
                    "parameters": [
                        _EXP_ID,
                        {
                            "name": "predictions",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "0 leaves per-item predictions out",
                        },
                    ],
                    "responses": {
                        "200": json_body(
                            ExperimentRecord,
                            f"The experiment record (schema_version {SCHEMA_VERSION}, docs/ARCHITECTURE.md)",
                        ),
                        "404": error,
                    },
                }
            },
            "/api/experiments/{exp_id}/cancel": {
                "post": {
                    "summary": "Cancel the experiment",
                    "parameters": [_EXP_ID],
                    "responses": {"202": json_body(CancelBody, "Cancellation requested"), "404": error},
                }
            },
            "/api/experiments/{exp_id}/rerun": {
                "post": {
                    "summary": "Start a new experiment with this one's dataset, test items and spec (optionally other "
                    "models or fine-tuning seed); the new record's `rerun_of` links back",
                    "parameters": [_EXP_ID],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": requests.schema(RerunRequest)}},
                    },
                    "responses": {
                        "202": {
                            **json_body(RerunBody, "Queued; Location points at the new record"),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        "400": error,
                        "404": error,
                        "409": {**error, "description": "The dataset is no longer stored"},
                    },
                }
            },
            "/api/experiments/{exp_id}/runs/{run_id}/retry": {
                "post": {
                    "summary": "Run one failed or cancelled run again in place, reusing the uploaded training file and "
                    "(if its job had finished) the fine-tuned model; the summary is recomputed after",
                    "parameters": [_EXP_ID, _RUN_ID],
                    "responses": {
                        "202": {
                            **json_body(RetryBody, "Queued; Location points at the record"),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        "404": error,
                        "409": {
                            **error,
                            "description": "The run is not failed or cancelled, or another run "
                            "of the experiment has not finished",
                        },
                    },
                }
            },
            "/api/compare": {
                "get": {
                    "summary": "Runs from any experiments side by side, with paired tests (McNemar) for every pair",
                    "parameters": [
                        {
                            "name": "runs",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": f"2 to {MAX_COMPARED_RUNS} runs as <exp_id>:<run_id>, comma-separated "
                            f"(or the parameter repeated), all scored on the same test items",
                        }
                    ],
                    "responses": {
                        "200": json_body(CrossComparisonBody, "The runs and their comparisons"),
                        "400": {
                            **error,
                            "description": "A malformed run name, or runs not scored on the "
                            "same test items (the error says what differs)",
                        },
                        "404": error,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health of the data directory, Redis, the workers and the provider",
                    "parameters": [
                        {
                            "name": "strict",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "1 makes a failed workers check a 503 too",
                        }
                    ],
                    "responses": {
                        "200": {"description": "The web app can serve; `ok` says whether every check passed"},
                        "503": {"description": "A check the web app needs failed (any check with strict=1)"},
                    },
                }
            },
        },
    }
    clashes = set(responses.components) & set(requests.components)
    if clashes:
        raise TypeError(f"request and response types share the names {sorted(clashes)}; rename the request types")
    document["components"] = {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {**responses.components, **requests.components},
    }
    return document
