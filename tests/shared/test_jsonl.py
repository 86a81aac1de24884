"""Chat JSONL writing and validation by OpenAI's rules for chat fine-tuning files."""
from __future__ import annotations

import json

from shared.jsonl import chat_jsonl, validate_chat_jsonl


def _example(i: int) -> list[dict]:
    return [{"role": "system", "content": "Label it."}, {"role": "user", "content": f"text {i} é"},
            {"role": "assistant", "content": "neutral"}]


def test_written_file_round_trips_and_validates():
    data = chat_jsonl(_example(i) for i in range(10))
    assert data.endswith(b"\n") and len(data.splitlines()) == 10
    assert json.loads(data.splitlines()[0]) == {"messages": _example(0)}
    report = validate_chat_jsonl(data)
    assert report.ok and report.n_examples == 10 and report.error_message() == ""
    assert report.examples[3] == _example(3)


def test_each_problem_is_reported_with_its_line():
    lines = chat_jsonl(_example(i) for i in range(12)).decode().splitlines()
    lines[1] = "not json"
    lines[3] = json.dumps({"prompt": "x"})
    lines[5] = json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]})
    lines[6] = json.dumps({"messages": [{"role": "user", "content": "x"}]})
    lines[7] = json.dumps({"messages": [{"role": "user", "content": "x", "colour": 1}, {"role": "assistant", "content": "y"}]})
    lines[8] = json.dumps({"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y", "weight": 2}]})
    lines[9] = ""
    report = validate_chat_jsonl(("\n".join(lines) + "\n").encode())
    assert not report.ok
    by_line = {}
    for line, problem in report.issues:
        by_line.setdefault(line, []).append(problem)
    assert "not valid JSON" in by_line[2][0]
    assert "messages" in by_line[4][0]
    assert "'robot'" in by_line[6][0]
    assert "no assistant message" in by_line[7][0]
    assert "colour" in by_line[8][0]
    assert any("content must be a string" in p for p in by_line[9]) and any("weight" in p for p in by_line[9])
    assert "blank" in by_line[10][0]
    message = report.error_message()
    assert message.startswith("Invalid training file: line 2: ")
    assert report.n_examples == 5


def test_minimum_examples_and_encoding():
    small = validate_chat_jsonl(chat_jsonl(_example(i) for i in range(3)))
    assert not small.ok and "at least 10" in small.error_message()
    assert validate_chat_jsonl(chat_jsonl(_example(i) for i in range(3)), min_examples=3).ok
    assert "UTF-8" in validate_chat_jsonl(b"\xff\xfe\x00").error_message()
    assert not validate_chat_jsonl(b"").ok


def test_assistant_tool_call_without_content_is_allowed():
    call = [{"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                                    "function": {"name": "w", "arguments": "{}"}}]}]
    assert validate_chat_jsonl(chat_jsonl([call] * 10)).ok
