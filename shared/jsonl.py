"""Chat fine-tuning JSONL: reading it line by line, writing it, and validating it by OpenAI's published rules.

Lines end at b"\\n" only (a CRLF's b"\\r" is dropped): `str.splitlines()` also breaks at U+2028, U+2029, U+0085 and
other characters that JSON keeps raw inside strings, so a tweet holding one would split its example in two.
`iter_lines` is the one reader of JSONL in the project; it reads a binary stream in chunks and never holds more
than `max_line_bytes` of one line.

The rules follow OpenAI's "Data preparation and analysis for chat model fine-tuning" guide: every line is a JSON
object with a `messages` list; each message has a known `role` and string `content` (an assistant message may
carry `tool_calls` instead of content); only known message keys; `weight` (assistant only) is 0 or 1; every
example has an assistant message to learn from; and a file has at least `min_examples` examples. The worker checks
its file before uploading and local_openai checks every uploaded file, so both apply exactly these rules.

Validation runs in bounded memory (`JsonlLimits`): a line over `max_line_bytes` is reported without being kept or
parsed, an example over `max_messages` is reported without checking each message, only the first `max_issues`
problems are kept (the rest are counted), and valid examples are counted, not kept.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

ALLOWED_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
ALLOWED_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id", "refusal"}
)
MAX_REPORTED_ISSUES = 20
# OpenAI's largest fine-tuning context is 65,536 tokens per example; 1 MiB holds that many tokens of any text
# (about 4 bytes per token, plus JSON escaping), so no example OpenAI would train on is refused.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
# Every chat message costs at least 4 tokens of formatting, so 65,536 tokens hold at most 16,384 messages.
DEFAULT_MAX_MESSAGES = 16384
CHUNK_BYTES = 64 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

Message = dict[str, object]


@dataclass(frozen=True)
class Line:
    """One line of a JSONL stream: `data` without its b"\\n" (or b"\\r\\n"); empty when `too_long`."""

    number: int  # 1-based
    offset: int  # byte offset of the line's start in the stream
    size: int  # the line's length in bytes, also when too long to keep
    data: bytes = b""
    too_long: bool = False


def iter_lines(stream: BinaryIO, max_line_bytes: int | None = None, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Line]:
    """Yield each line of `stream`, read `chunk_bytes` at a time.

    A line longer than `max_line_bytes` is yielded with `too_long=True` and no data, its bytes discarded as they
    are read. A leading UTF-8 byte order mark is dropped, and so is the empty "line" after a final b"\\n".
    """
    head = stream.read(len(UTF8_BOM))
    number, offset = 1, len(head) if head == UTF8_BOM else 0
    chunk = b"" if offset else head
    kept = bytearray()
    size = 0  # bytes of the current line read so far, kept or not
    ends_cr = False
    while chunk or (chunk := stream.read(chunk_bytes)):
        parts = chunk.split(b"\n")
        chunk = b""
        for index, part in enumerate(parts):
            size += len(part)
            if part:
                ends_cr = part.endswith(b"\r")
            if max_line_bytes is None or size <= max_line_bytes + 1:  # + 1: a CRLF's b"\r"
                kept += part
            else:
                kept.clear()
            if index < len(parts) - 1:
                yield _line(number, offset, size - ends_cr, kept, max_line_bytes)
                number, offset, size, ends_cr = number + 1, offset + size + 1, 0, False
                kept = bytearray()
    if size:
        yield _line(number, offset, size - ends_cr, kept, max_line_bytes)


def _line(number: int, offset: int, size: int, kept: bytearray, max_line_bytes: int | None) -> Line:
    """`size` excludes a CRLF's b"\r", which `kept` may still end with."""
    if max_line_bytes is not None and size > max_line_bytes:
        return Line(number, offset, size, too_long=True)
    return Line(number, offset, size, bytes(kept[:size]))


@dataclass(frozen=True)
class JsonlLimits:
    """What validation holds in memory at most; local_openai sets these from its options."""

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_messages: int = DEFAULT_MAX_MESSAGES
    max_issues: int = MAX_REPORTED_ISSUES


@dataclass
class ValidationReport:
    """What `validate_chat_jsonl` found. `issues` holds (1-based line number, problem); line 0 is the whole file.

    Only the first `max_issues` problems are kept; `more_issues` counts the others.
    """

    n_examples: int = 0
    issues: list[tuple[int, str]] = field(default_factory=list)
    more_issues: int = 0
    max_issues: int = MAX_REPORTED_ISSUES

    @property
    def ok(self) -> bool:
        return not self.issues

    def add_issue(self, line: int, problem: str) -> None:
        if len(self.issues) < self.max_issues:
            self.issues.append((line, problem))
        else:
            self.more_issues += 1

    def error_message(self) -> str:
        """One human-readable message naming each problem's line, or '' when the file is valid."""
        if self.ok:
            return ""
        shown = [f"line {line}: {problem}" if line else problem for line, problem in self.issues]
        if self.more_issues:
            shown.append(f"... and {self.more_issues} more problem(s)")
        return "Invalid training file: " + "; ".join(shown)


def chat_jsonl(examples: Iterable[Sequence[Mapping[str, object]]]) -> bytes:
    """Serialise chat examples (each a list of messages) as UTF-8 JSONL, one `{"messages": [...]}` per line."""
    lines = [json.dumps({"messages": list(messages)}, ensure_ascii=False) for messages in examples]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _message_problems(index: int, message: object) -> list[str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return [f'{where} is not a JSON object; write each message as {{"role": ..., "content": ...}}']
    problems = []
    unknown = sorted(set(message) - ALLOWED_MESSAGE_KEYS)
    if unknown:
        problems.append(
            f"{where} has unrecognised key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED_MESSAGE_KEYS))}"
        )
    role = message.get("role")
    if role not in ALLOWED_ROLES:
        problems.append(f"{where} has role {role!r}; use one of {', '.join(ALLOWED_ROLES)}")
    content = message.get("content")
    if content is None:
        if not (role == "assistant" and (message.get("tool_calls") or message.get("function_call"))):
            problems.append(f'{where} ({role}) has no "content"; add the message text')
    elif not isinstance(content, (str, list)):
        problems.append(f"{where} content must be a string, not {type(content).__name__}")
    elif isinstance(content, str) and not content.strip() and role == "assistant":
        problems.append(f"{where} (assistant) has empty content; give the answer the model should learn")
    if "weight" in message:
        if role != "assistant":
            problems.append(f"{where} has a weight but only assistant messages may carry one")
        elif message["weight"] not in (0, 1) or isinstance(message["weight"], bool):
            problems.append(f"{where} weight must be 0 or 1, not {message['weight']!r}")
    return problems


def _example_problems(record: object, max_messages: int) -> list[str]:
    if not isinstance(record, dict):
        return ['is not a JSON object; each line must be {"messages": [...]}']
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return ['has no "messages" list; each line must be {"messages": [...]} with at least one message']
    if len(messages) > max_messages:
        return [
            f"has {len(messages):,} messages, over the limit of {max_messages:,} per example; "
            "split the conversation into shorter examples"
        ]
    problems = [p for i, m in enumerate(messages) for p in _message_problems(i, m)]
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        problems.append("has no assistant message to learn from; end the example with the expected assistant reply")
    return problems


def _parse(line: Line, limits: JsonlLimits) -> tuple[object, list[str]]:
    """(the line's JSON value, its problems); the value is None whenever there are problems before parsing."""
    if line.too_long:
        return None, [
            f"is {line.size:,} bytes, over the limit of {limits.max_line_bytes:,} bytes per example; "
            "shorten the example or split it into several"
        ]
    try:
        text = line.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [f"is not UTF-8 text ({exc.reason} at byte {line.offset + exc.start}); save the file as UTF-8"]
    if not text.strip():
        return None, ["is blank; remove empty lines (one JSON object per line)"]
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"is not valid JSON ({exc.msg} at column {exc.colno})"]
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        return None, [f"is not usable JSON ({exc}); write numbers and text in ordinary form"]
    except RecursionError:
        return None, ['nests JSON too deeply to read; each line must be a flat {"messages": [...]} object']
    return record, _example_problems(record, limits.max_messages)


def _checked_examples(
    source: bytes | BinaryIO, min_examples: int, limits: JsonlLimits, report: ValidationReport
) -> Iterator[list[Message]]:
    """Yield each valid example's messages while recording every problem (and the count) in `report`."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    for line in iter_lines(stream, limits.max_line_bytes):
        record, problems = _parse(line, limits)
        for problem in problems:
            report.add_issue(line.number, problem)
        if not problems:
            report.n_examples += 1
            yield record["messages"]  # type: ignore[index]  # _example_problems checked the shape
    if not report.issues and report.n_examples < min_examples:
        report.add_issue(
            0, f"the file has {report.n_examples} example(s) but fine-tuning needs at least {min_examples}; add more"
        )


def validate_chat_jsonl(
    source: bytes | BinaryIO, min_examples: int = 10, limits: JsonlLimits = JsonlLimits()
) -> ValidationReport:
    """Check a chat fine-tuning file (bytes or a binary stream); never raises for bad input, reports each problem
    with its line instead. Keeps no example, so memory stays bounded by `limits` whatever the file's size."""
    report = ValidationReport(max_issues=limits.max_issues)
    for _ in _checked_examples(source, min_examples, limits, report):
        pass
    return report


def read_chat_examples(
    source: bytes | BinaryIO, min_examples: int = 1, limits: JsonlLimits = JsonlLimits()
) -> tuple[list[list[Message]], ValidationReport]:
    """Every valid example's messages (for training, which needs them all), with the validation report."""
    report = ValidationReport(max_issues=limits.max_issues)
    return list(_checked_examples(source, min_examples, limits, report)), report
