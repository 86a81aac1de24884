"""The OpenAPI 3.1 description of the JSON API, served at `/api/openapi.json`."""
from __future__ import annotations

from typing import Any

_ERROR = {"description": "What is wrong and how to fix it",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_RECORD = {"description": "The experiment record (schema_version 1, docs/ARCHITECTURE.md)",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Experiment"}}}}
_EXP_ID = {"name": "exp_id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": "^exp_[0-9a-f]{12}$"}}

_SUBMIT_FIELDS = {
    "text_column": {"type": "string", "description": "Column holding the text (auto-detected when omitted)"},
    "label_column": {"type": "string", "description": "Column holding the label (auto-detected when omitted)"},
    "models": {"type": "array", "items": {"type": "string"}, "description": "Base models to fine-tune"},
    "zero_shot": {"type": "array", "items": {"type": "string"}, "description": "Models evaluated without training"},
    "preset": {"type": "string", "enum": ["reference", "consistent"]},
    "system_prompt": {"type": "string"},
    "user_template": {"type": "string", "description": "Must contain {text}"},
}


def openapi_document() -> dict[str, Any]:
    multipart = {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "UTF-8 CSV with a header line"},
        **_SUBMIT_FIELDS,
        "sampling_mode": {"type": "string", "enum": ["balanced", "random"]},
        "train_offset": {"type": "integer"}, "test_offset": {"type": "integer"},
        "sampling_seed": {"type": "integer"},
        "n_epochs": {"type": "string"}, "batch_size": {"type": "string"},
        "learning_rate_multiplier": {"type": "string"}, "suffix": {"type": "string"}, "hp_seed": {"type": "integer"},
    }, "description": "Per-class counts are fields named train_count:<label> and test_count:<label>."}
    as_json = {"type": "object", "required": ["dataset"], "properties": {
        "dataset": {"type": "string", "description": "sha256 returned by POST /api/datasets"},
        **_SUBMIT_FIELDS,
        "sampling": {"type": "object", "properties": {
            "mode": {"type": "string", "enum": ["balanced", "random"]},
            "train_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "test_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "train_offset": {"type": "integer"}, "test_offset": {"type": "integer"}, "seed": {"type": "integer"}}},
        "hyperparameters": {"type": "object", "properties": {
            "n_epochs": {}, "batch_size": {}, "learning_rate_multiplier": {}, "suffix": {"type": "string"},
            "seed": {"type": "integer"}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "tunequeue API", "version": "1",
                 "description": "Submit fine-tuning experiments, follow them and read their results. With "
                                "WEB_AUTH_TOKEN set, send 'Authorization: Bearer <token>'."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {
                    "error": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "Experiment": {"type": "object", "required": ["schema_version", "id", "status", "runs"],
                               "properties": {"schema_version": {"const": 1}, "id": {"type": "string"},
                                              "status": {"type": "string", "enum": [
                                                  "queued", "preparing", "running", "succeeded", "failed",
                                                  "cancelled"]},
                                              "runs": {"type": "array", "items": {"type": "object"}}}},
            },
        },
        "security": [{"bearer": []}, {}],
        "paths": {
            "/api/datasets": {"post": {
                "summary": "Upload a CSV; returns its sha256 for JSON submissions",
                "requestBody": {"content": {"multipart/form-data": {"schema": {
                    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": {"description": "Stored", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"sha256": {"type": "string"}, "name": {"type": "string"}}}}}},
                    "400": _ERROR, "413": _ERROR, "507": _ERROR}}},
            "/api/datasets/{sha256}": {"delete": {
                "summary": "Delete a stored dataset no unfinished experiment needs (frees TQ_DATASET_QUOTA_BYTES)",
                "parameters": [{"name": "sha256", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
                "responses": {"204": {"description": "Deleted"}, "404": _ERROR,
                              "409": {**_ERROR, "description": "Unfinished experiments still need it; "
                                                                "`experiments` lists them"}}}},
            "/api/experiments": {
                "post": {"summary": "Submit an experiment",
                         "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": multipart},
                                                                       "application/json": {"schema": as_json}}},
                         "responses": {"202": {"description": "Queued; Location points at the record",
                                               "headers": {"Location": {"schema": {"type": "string"}}}},
                                       "400": _ERROR, "404": _ERROR, "413": _ERROR, "507": _ERROR}},
                "get": {"summary": "List experiments, newest first (without predictions)",
                        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                        "responses": {"200": {"description": "{'experiments': [record, ...]}"}}}},
            "/api/experiments/{exp_id}": {"get": {
                "summary": "The experiment record, as `python -m worker show ID --json` prints it",
                "parameters": [_EXP_ID, {"name": "predictions", "in": "query", "schema": {"type": "string"},
                                         "description": "0 leaves per-item predictions out"}],
                "responses": {"200": _RECORD, "404": _ERROR}}},
            "/api/experiments/{exp_id}/cancel": {"post": {
                "summary": "Cancel the experiment", "parameters": [_EXP_ID],
                "responses": {"202": {"description": "Cancellation requested"}, "404": _ERROR}}},
            "/healthz": {"get": {
                "summary": "Health of the data directory, Redis, the workers and the provider",
                "parameters": [{"name": "strict", "in": "query", "schema": {"type": "string"},
                                "description": "1 makes a failed workers check a 503 too"}],
                "responses": {"200": {"description": "The web app can serve; `ok` says whether every check passed"},
                              "503": {"description": "A check the web app needs failed (any check with strict=1)"}}}},
        },
    }
