"""Chat JSONL writing and validation by OpenAI's rules for chat fine-tuning files."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest

from shared.jsonl import (
    DEFAULT_MAX_LINE_BYTES,
    MAX_REPORTED_ISSUES,
    JsonlLimits,
    Line,
    chat_jsonl,
    iter_lines,
    read_chat_examples,
    validate_chat_jsonl,
)


def _example(i: int) -> list[dict]:
    return [
        {"role": "system", "content": "Label it."},
        {"role": "user", "content": f"text {i} é"},
        {"role": "assistant", "content": "neutral"},
    ]


def test_written_file_round_trips_and_validates():
    data = chat_jsonl(_example(i) for i in range(10))
    assert data.endswith(b"\n") and len(data.splitlines()) == 10
    assert json.loads(data.splitlines()[0]) == {"messages": _example(0)}
    report = validate_chat_jsonl(data)
    assert report.ok and report.n_examples == 10 and report.error_message() == ""
    examples, read_report = read_chat_examples(data)
    assert examples[3] == _example(3) and read_report.ok


def test_each_problem_is_reported_with_its_line():
    lines = chat_jsonl(_example(i) for i in range(12)).decode().splitlines()
    lines[1] = "not json"
    lines[3] = json.dumps({"prompt": "x"})
    lines[5] = json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]})
    lines[6] = json.dumps({"messages": [{"role": "user", "content": "x"}]})
    lines[7] = json.dumps(
        {"messages": [{"role": "user", "content": "x", "colour": 1}, {"role": "assistant", "content": "y"}]}
    )
    lines[8] = json.dumps(
        {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y", "weight": 2}]}
    )
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
    call = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
    ]
    assert validate_chat_jsonl(chat_jsonl([call] * 10)).ok


ODD_SEPARATORS = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"


def test_a_text_holding_unicode_line_separators_is_one_line():
    examples = [
        [{"role": "user", "content": f"before{ODD_SEPARATORS}after {i}"}, {"role": "assistant", "content": "neutral"}]
        for i in range(10)
    ]
    report = validate_chat_jsonl(chat_jsonl(examples))
    assert report.ok, report.error_message()
    assert report.n_examples == 10


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64 * 1024])
def test_iter_lines_splits_on_newline_only_at_any_chunk_size(chunk_bytes):
    data = '\ufeff{"a": "x\u2028y"}\r\nsecond\x0c\u0085\n\nlast'.encode()
    lines = list(iter_lines(io.BytesIO(data), chunk_bytes=chunk_bytes))
    assert [line.data for line in lines] == ['{"a": "x\u2028y"}'.encode(), "second\x0c\u0085".encode(), b"", b"last"]
    assert [line.number for line in lines] == [1, 2, 3, 4]
    assert [data[line.offset : line.offset + line.size] for line in lines] == [line.data for line in lines]
    assert list(iter_lines(io.BytesIO(b"one\n"))) == [Line(1, 0, 3, b"one")]
    assert list(iter_lines(io.BytesIO(b""))) == []


def test_iter_lines_marks_a_long_line_without_keeping_it():
    data = b"short\n" + b"x" * 100 + b"\r\nafter\n"
    lines = list(iter_lines(io.BytesIO(data), max_line_bytes=10, chunk_bytes=8))
    assert lines[1] == Line(2, 6, 100, too_long=True)
    assert [line.data for line in lines] == [b"short", b"", b"after"]
    assert list(iter_lines(io.BytesIO(b"x" * 10 + b"\r\n"), max_line_bytes=10))[0].data == b"x" * 10


def _one_huge_line(n_messages: int) -> bytes:
    message = json.dumps({"role": "user", "content": "hello there"}).encode()
    return b'{"messages": [' + b", ".join([message] * n_messages) + b"]}\n"


def test_a_line_over_the_cap_is_reported_without_being_parsed():
    """The issue's 60 MB single-line file peaked at 5 GB; here a 20 MB line may cost at most ~3x the 1 MiB cap."""
    data = _one_huge_line(500_000)
    assert len(data) > 20 * DEFAULT_MAX_LINE_BYTES
    tracemalloc.start()
    try:
        report = validate_chat_jsonl(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.issues == [
        (
            1,
            f"is {len(data) - 1:,} bytes, over the limit of {DEFAULT_MAX_LINE_BYTES:,} bytes "
            "per example; shorten the example or split it into several",
        )
    ]
    assert peak < 3 * DEFAULT_MAX_LINE_BYTES, f"validation allocated {peak:,} bytes at its peak"


def test_an_example_over_the_message_cap_is_one_issue():
    report = validate_chat_jsonl(_one_huge_line(50), min_examples=1, limits=JsonlLimits(max_messages=49))
    assert report.issues == [
        (1, "has 50 messages, over the limit of 49 per example; split the conversation into shorter examples")
    ]
    assert validate_chat_jsonl(chat_jsonl([_example(0)]), min_examples=1, limits=JsonlLimits(max_messages=3)).ok


def test_issues_kept_are_bounded_and_the_rest_counted():
    report = validate_chat_jsonl(b"not json\n" * 1000)
    assert len(report.issues) == MAX_REPORTED_ISSUES and report.more_issues == 1000 - MAX_REPORTED_ISSUES
    assert report.error_message().endswith(f"; ... and {1000 - MAX_REPORTED_ISSUES} more problem(s)")
    assert len(validate_chat_jsonl(b"x\n" * 30, limits=JsonlLimits(max_issues=5)).issues) == 5


def test_hostile_json_lines_are_reported_not_raised():
    lines = [b"[" * 100_000, b'{"messages": ' + b"1" * 5000 + b"}", b"\xff\xfe bad utf-8"]
    report = validate_chat_jsonl(b"\n".join(lines) + b"\n" + chat_jsonl(_example(i) for i in range(10)))
    by_line = dict(report.issues)
    assert "nests JSON too deeply" in by_line[1]
    assert "digits" in by_line[2]
    assert "not UTF-8 text (invalid start byte at byte " in by_line[3]
    assert report.n_examples == 10


def test_a_binary_stream_validates_like_bytes(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(_example(i) for i in range(12)).replace(b"\n", b"\r\n"))
    with open(path, "rb") as handle:
        examples, report = read_chat_examples(handle)
    assert report.ok and report.n_examples == 12 and examples[11] == _example(11)
