"""Prompts as data: how a (text, label) item becomes a training example and how a text is asked about.

`reference` reproduces the reference experiment exactly: training examples carry its system prompt with the tweet as
the user message, but evaluation sends one user message built from `user_template` (no system prompt).
`consistent` evaluates in the training format (system prompt + the text as the user message), so the fine-tuned
model sees at test time what it saw in training.
`both-phrasings` evaluates like `reference` but trains on each item twice, in the training and in the evaluation
phrasing, so a model fine-tuned on few examples has seen the question it will be asked (issue 14: SmolLM2-135M
fine-tuned on the reference phrasing alone answers the reference evaluation prompt far worse).

User templates contain a bare `{text}` (no conversion or format spec) and no other field; literal braces are
written `{{` and `}}`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace
from typing import TypedDict

from openai.types.chat import ChatCompletionMessageParam

from shared.record_types import Prompt

REFERENCE_SYSTEM_PROMPT = (
    "You are a Twitter sentiment analysis expert who can predict sentiment expressed in the tweets about an "
    "airline. You select sentiment value from positive, negative, or neutral."
)
# Copied from the reference script's triple-quoted string, newlines and 12-space indentation included.
REFERENCE_EVAL_TEMPLATE = (
    "What is the sentiment expressed in the following tweet about an airline?\n"
    "            Select sentiment value from positive, negative, or neutral. Return only the sentiment value in "
    "small letters.\n"
    "            tweet: {text}"
)
TEXT_ONLY_TEMPLATE = "{text}"


class PromptError(ValueError):
    """A prompt preset or template is unusable; the message says how to fix it."""


class _Changes(TypedDict, total=False):
    """The fields `PromptPreset.edited` replaces."""

    name: str
    system_prompt: str | None
    eval_system_prompt: str | None
    user_template: str
    training_template: str


@dataclass(frozen=True)
class PromptPreset:
    """Training sends `system_prompt` + `training_template` (the text alone by default) + the label. Evaluation
    sends `eval_system_prompt` (None: no system message) + `user_template`; a preset whose evaluation repeats the
    training format has `eval_system_prompt == system_prompt` and `user_template == training_template`."""

    name: str
    system_prompt: str | None
    user_template: str
    eval_system_prompt: str | None = None
    temperature: float = 0.0
    max_tokens: int = 10
    training_template: str = TEXT_ONLY_TEMPLATE
    train_on_eval_phrasing: bool = False

    def __post_init__(self) -> None:
        validate_template(self.user_template, "user template")
        validate_template(self.training_template, "training template")
        if not 0 <= self.temperature <= 2:
            raise PromptError(
                f"temperature {self.temperature} is out of range; use a value from 0 to 2 (0 for reproducible answers)."
            )
        if self.max_tokens < 1:
            raise PromptError(f"max_tokens {self.max_tokens} must be at least 1 (10 fits a one-word label).")

    @property
    def evaluates_in_training_format(self) -> bool:
        return self.eval_system_prompt == self.system_prompt and self.user_template == self.training_template

    def edited(
        self, *, name: str | None = None, system_prompt: str | None = None, user_template: str | None = None
    ) -> PromptPreset:
        """A validated copy with a new system prompt and/or user template, named `name` or '<name>-edited'.

        `None` leaves a part unchanged; an empty (or blank) system prompt removes it, so examples carry no system
        message (it is optional in chat fine-tuning data). A preset that evaluates in the training format keeps
        doing so: both sides get the change."""
        changes: _Changes = {"name": name or f"{self.name}-edited"}
        if system_prompt is not None:
            changes["system_prompt"] = system_prompt.strip() or None
            if self.evaluates_in_training_format:
                changes["eval_system_prompt"] = changes["system_prompt"]
        if user_template is not None:
            changes["user_template"] = user_template
            if self.evaluates_in_training_format:
                changes["training_template"] = user_template
        return replace(self, **changes)

    def to_dict(self) -> Prompt:
        """The record's `prompt` section (`preset` is the name; `train_on_eval_phrasing` only when set)."""
        prompt: Prompt = {
            "system_prompt": self.system_prompt,
            "user_template": self.user_template,
            "eval_system_prompt": self.eval_system_prompt,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "training_template": self.training_template,
            "preset": self.name,
        }
        if self.train_on_eval_phrasing:
            prompt["train_on_eval_phrasing"] = True
        return prompt

    @classmethod
    def from_dict(cls, data: Prompt) -> PromptPreset:
        """Inverse of `to_dict`."""
        return cls(
            name=data["preset"],
            system_prompt=data["system_prompt"],
            user_template=data["user_template"],
            eval_system_prompt=data["eval_system_prompt"],
            temperature=data["temperature"],
            max_tokens=data["max_tokens"],
            training_template=data["training_template"],
            train_on_eval_phrasing=data.get("train_on_eval_phrasing", False),  # absent from records before issue 14
        )


def _pieces(template: str, what: str) -> list[str | None]:
    """The template as literal strings and `None` where the text goes; raises PromptError for anything but a bare
    `{text}` field, so no conversion or format spec (`{text:>900000000}` would allocate 900 MB) ever reaches
    `str.format`."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise PromptError(
            f"The {what} is not a valid template ({exc}); write literal braces as {{{{ and }}}}."
        ) from None
    others = sorted({name or "{}" for _, name, _, _ in parsed if name is not None and name != "text"})
    if others:
        raise PromptError(
            f"The {what} uses unknown field(s) {', '.join(others)}; only {{text}} is filled in. "
            f"Remove them, or write literal braces as {{{{ and }}}}."
        )
    formatted = next(
        (
            ("!" + conversion if conversion else "") + (":" + spec if spec else "")
            for _, name, spec, conversion in parsed
            if name is not None and (spec or conversion)
        ),
        None,
    )
    if formatted is not None:
        shown = formatted if len(formatted) <= 40 else formatted[:40] + "..."
        raise PromptError(
            f"The {what} formats its field as {{text{shown}}}; only a bare {{text}} is filled in, "
            f"without conversions or format specs. Write {{text}} and put any other wording around "
            f"it as plain text."
        )
    pieces: list[str | None] = []
    for literal, name, _, _ in parsed:
        pieces.append(literal)
        if name is not None:
            pieces.append(None)
    return pieces


def validate_template(template: str, what: str = "user template") -> None:
    """Raise PromptError unless `template` has a bare `{text}` field and no other field."""
    if None not in _pieces(template, what):
        raise PromptError(
            f"The {what} has no {{text}} field, so the example's text would never be sent. Add "
            f"{{text}} where the text belongs."
        )


def render(template: str, text: str) -> str:
    """`template` with each `{text}` replaced by `text`, filled in by hand rather than by `str.format`."""
    return "".join(text if piece is None else piece for piece in _pieces(template, "template"))


def _messages(system_prompt: str | None, user_content: str) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": user_content})
    return messages


def training_messages(preset: PromptPreset, text: str, label: str) -> list[ChatCompletionMessageParam]:
    """One chat fine-tuning example: [system], user, assistant (the label)."""
    return _messages(preset.system_prompt, render(preset.training_template, text)) + [
        {"role": "assistant", "content": label}
    ]


def training_examples(preset: PromptPreset, text: str, label: str) -> list[list[ChatCompletionMessageParam]]:
    """The fine-tuning examples of one item: its training phrasing, and its evaluation phrasing too when the preset
    trains on both (and they differ)."""
    examples = [training_messages(preset, text, label)]
    if preset.train_on_eval_phrasing and not preset.evaluates_in_training_format:
        examples.append(evaluation_messages(preset, text) + [{"role": "assistant", "content": label}])
    return examples


def evaluation_messages(preset: PromptPreset, text: str) -> list[ChatCompletionMessageParam]:
    """The messages sent to ask a model about `text`."""
    return _messages(preset.eval_system_prompt, render(preset.user_template, text))


PRESETS: dict[str, PromptPreset] = {
    "reference": PromptPreset(
        name="reference",
        system_prompt=REFERENCE_SYSTEM_PROMPT,
        user_template=REFERENCE_EVAL_TEMPLATE,
        eval_system_prompt=None,
        temperature=0.0,
        max_tokens=10,
        training_template=TEXT_ONLY_TEMPLATE,
    ),
    "consistent": PromptPreset(
        name="consistent",
        system_prompt=REFERENCE_SYSTEM_PROMPT,
        user_template=TEXT_ONLY_TEMPLATE,
        eval_system_prompt=REFERENCE_SYSTEM_PROMPT,
        temperature=0.0,
        max_tokens=10,
        training_template=TEXT_ONLY_TEMPLATE,
    ),
}


# The reference experiment's evaluation, trained on the evaluation phrasing as well as the training one.
PRESETS["both-phrasings"] = replace(PRESETS["reference"], name="both-phrasings", train_on_eval_phrasing=True)


def get_preset(name: str) -> PromptPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise PromptError(f"Unknown prompt preset {name!r}; choose one of: {', '.join(PRESETS)}.") from None
