"""Chat fine-tuning JSONL: writing it, and validating it by OpenAI's published rules.

The rules follow OpenAI's "Data preparation and analysis for chat model fine-tuning" guide: every line is a JSON
object with a `messages` list; each message has a known `role` and string `content` (an assistant message may
carry `tool_calls` instead of content); only known message keys; `weight` (assistant only) is 0 or 1; every
example has an assistant message to learn from; and a file has at least `min_examples` examples. The worker checks
its file before uploading and local_openai checks every uploaded file, so both apply exactly these rules.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

ALLOWED_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
ALLOWED_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id", "refusal"}
)
MAX_REPORTED_ISSUES = 20

Message = dict[str, object]


@dataclass
class ValidationReport:
    """What `validate_chat_jsonl` found. `issues` holds (1-based line number, problem); line 0 is the whole file."""

    n_examples: int = 0
    issues: list[tuple[int, str]] = field(default_factory=list)
    examples: list[list[Message]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def error_message(self) -> str:
        """One human-readable message naming each problem's line, or '' when the file is valid."""
        if self.ok:
            return ""
        shown = [f"line {line}: {problem}" if line else problem for line, problem in self.issues[:MAX_REPORTED_ISSUES]]
        more = len(self.issues) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problem(s)")
        return "Invalid training file: " + "; ".join(shown)


def chat_jsonl(examples: Iterable[list[Message]]) -> bytes:
    """Serialise chat examples (each a list of messages) as UTF-8 JSONL, one `{"messages": [...]}` per line."""
    lines = [json.dumps({"messages": list(messages)}, ensure_ascii=False) for messages in examples]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _message_problems(index: int, message: object) -> list[str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return [f"{where} is not a JSON object; write each message as {{\"role\": ..., \"content\": ...}}"]
    problems = []
    unknown = sorted(set(message) - ALLOWED_MESSAGE_KEYS)
    if unknown:
        problems.append(f"{where} has unrecognised key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED_MESSAGE_KEYS))}")
    role = message.get("role")
    if role not in ALLOWED_ROLES:
        problems.append(f"{where} has role {role!r}; use one of {', '.join(ALLOWED_ROLES)}")
    content = message.get("content")
    if content is None:
        if not (role == "assistant" and (message.get("tool_calls") or message.get("function_call"))):
            problems.append(f"{where} ({role}) has no \"content\"; add the message text")
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


def _example_problems(record: object) -> list[str]:
    if not isinstance(record, dict):
        return ["is not a JSON object; each line must be {\"messages\": [...]}"]
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["has no \"messages\" list; each line must be {\"messages\": [...]} with at least one message"]
    problems = [p for i, m in enumerate(messages) for p in _message_problems(i, m)]
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        problems.append("has no assistant message to learn from; end the example with the expected assistant reply")
    return problems


def validate_chat_jsonl(data: bytes, min_examples: int = 10) -> ValidationReport:
    """Check a chat fine-tuning file; never raises for bad input, reports each problem with its line instead."""
    report = ValidationReport()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.issues.append((0, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"))
        return report
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            report.issues.append((number, "is blank; remove empty lines (one JSON object per line)"))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            report.issues.append((number, f"is not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        problems = _example_problems(record)
        report.issues.extend((number, problem) for problem in problems)
        if not problems:
            report.examples.append(record["messages"])
    report.n_examples = len(report.examples)
    if not report.issues and report.n_examples < min_examples:
        report.issues.append(
            (0, f"the file has {report.n_examples} example(s) but fine-tuning needs at least {min_examples}; add more")
        )
    return report
