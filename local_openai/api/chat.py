"""`/v1/chat/completions`: parse and check the request, answer through the model's batcher."""

from __future__ import annotations

import re
import secrets
import time

from flask import Blueprint, jsonify

from local_openai.api.json_body import is_integer, is_number, json_object
from local_openai.config import ServerConfig
from local_openai.errors import InvalidRequest
from local_openai.services import get_services
from local_openai.trainers.base import ChatRequest

bp = Blueprint("chat", __name__, url_prefix="/v1/chat")

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_LOGIT_BIAS = 300  # entries, as OpenAI allows
_TOKEN_ID = re.compile(r"[0-9]{1,10}")


def _number(body: dict, name: str, default: float, lowest: float, highest: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not is_number(value) or not lowest <= value <= highest:
        raise InvalidRequest(
            f"Invalid '{name}': {value!r}; expected a number between {lowest} and {highest}",
            param=name,
            code="invalid_value",
        )
    return float(value)


def _content_chars(content: object, param: str) -> int:
    """How many characters of text a message's content holds: a string, null, or a list of content parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list) and all(
        isinstance(part, dict) and isinstance(part.get("text", ""), str) for part in content
    ):
        return sum(len(part.get("text", "")) for part in content)
    raise InvalidRequest(
        f"Invalid '{param}': expected a string or a list of content parts with string 'text'",
        param=param,
        code="invalid_type",
    )


def _check_messages(messages: object, config: ServerConfig) -> list:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' must be a non-empty list of {role, content} objects", param="messages", code="invalid_value"
        )
    if len(messages) > config.max_messages:
        raise InvalidRequest(
            f"Invalid 'messages': {len(messages)} messages; this server accepts at most "
            f"{config.max_messages} (LOCAL_OPENAI_MAX_MESSAGES)",
            param="messages",
            code="array_above_max_length",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidRequest(
                f"Invalid 'messages[{i}]': each message needs a role in {', '.join(ROLES)}",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        chars = _content_chars(message.get("content"), f"messages[{i}].content")
        if chars > config.max_message_chars:
            raise InvalidRequest(
                f"Invalid 'messages[{i}].content': {chars} characters; this server accepts at most "
                f"{config.max_message_chars} per message (LOCAL_OPENAI_MAX_MESSAGE_CHARS)",
                param=f"messages[{i}].content",
                code="string_above_max_length",
            )
    return messages


def _logit_bias(body: dict) -> dict[int, float]:
    """OpenAI's `logit_bias`: token ids (as strings) to numbers from -100 to 100. Whether each id is in the model's
    vocabulary is the model's to check."""
    raw = body.get("logit_bias")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest(
            f"Invalid 'logit_bias': {raw!r}; expected an object mapping token ids to numbers from -100 to 100",
            param="logit_bias",
            code="invalid_type",
        )
    if len(raw) > MAX_LOGIT_BIAS:
        raise InvalidRequest(
            f"Invalid 'logit_bias': {len(raw)} entries; at most {MAX_LOGIT_BIAS} are allowed",
            param="logit_bias",
            code="invalid_value",
        )
    bias: dict[int, float] = {}
    for key, value in raw.items():
        if not _TOKEN_ID.fullmatch(key):
            raise InvalidRequest(
                f"Invalid key in 'logit_bias': {key!r}; expected a token id, a non-negative integer",
                param="logit_bias",
                code="invalid_value",
            )
        if not is_number(value) or not -100 <= value <= 100:
            raise InvalidRequest(
                f"Invalid value for 'logit_bias' key {key}: {value!r}; expected a number from -100 to 100",
                param="logit_bias",
                code="invalid_value",
            )
        bias[int(key)] = float(value)
    return bias


def parse_chat_request(body: dict, config: ServerConfig) -> ChatRequest:
    messages = _check_messages(body.get("messages"), config)
    if body.get("n", 1) != 1:
        raise InvalidRequest("Only n=1 is supported", param="n", code="invalid_value")
    if body.get("stream"):
        raise InvalidRequest(
            "Streaming is not supported by this server; send stream=false", param="stream", code="unsupported_value"
        )
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not is_integer(max_tokens) or max_tokens < 1):
        raise InvalidRequest(
            f"Invalid 'max_tokens': {max_tokens!r}; expected a positive integer",
            param="max_tokens",
            code="invalid_value",
        )
    stop = body.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    if not isinstance(stop, (list, tuple)) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise InvalidRequest("'stop' must be a string or a list of up to 4 strings", param="stop", code="invalid_value")
    seed = body.get("seed")
    if seed is not None and not is_integer(seed):
        raise InvalidRequest("'seed' must be an integer", param="seed", code="invalid_type")
    return ChatRequest(
        messages=messages,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        stop=tuple(stop),
        seed=seed,
        time_limit_s=config.generation_time_limit_s,
        logit_bias=_logit_bias(body),
    )


@bp.post("/completions")
def completions():
    body = json_object()
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'", param="model", code="missing_required_parameter")
    services = get_services()
    chat_request = parse_chat_request(body, services.config)
    result = services.models.complete(model, services.loader(model), chat_request)
    return jsonify(
        {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "local",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text, "refusal": None},
                    "finish_reason": result.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "total_tokens": result.prompt_tokens + result.completion_tokens,
            },
        }
    )
