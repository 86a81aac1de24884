"""The interface between the job runner / chat endpoint and the model-specific trainers.

A trainer turns validated chat examples into a model directory, and loads a model directory (or the base model)
into a predictor that answers batches of chat requests. The job runner owns persistence, events and cancellation;
trainers only report through the `TrainingContext` callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

Message = dict[str, object]


def message_text(message: Message, separator: str = "") -> str:
    """The text of a message whose content is a string, null, or a list of OpenAI content parts (their `text`s
    joined by `separator`: "" for a chat template, " " where words must not fuse)."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, list):
        return separator.join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


class ClientError(ValueError):
    """A problem the client can fix: its training data, its request, a model it must train again.

    The server shows the message as is (a chat request gets a 400 naming `param`; a job fails with it as its error).
    Any other exception is a fault of the server: logged with its traceback, reported to the client generically.
    """

    def __init__(self, message: str, code: str = "invalid_value", param: str | None = None):
        super().__init__(message)
        self.code = code
        self.param = param


class ContextLengthExceeded(ClientError):
    """The prompt plus the completion asked for do not fit the model's context window (OpenAI answers a 400)."""

    def __init__(self, context_window: int, prompt_tokens: int, completion_tokens: int):
        super().__init__(
            f"This model's maximum context length is {context_window} tokens. However, you requested "
            f"{prompt_tokens + completion_tokens} tokens ({prompt_tokens} in the messages, {completion_tokens} in the "
            "completion). Please reduce the length of the messages or completion.",
            code="context_length_exceeded",
            param="messages",
        )


class TrainingCancelled(Exception):
    """Raised by a trainer when `TrainingContext.should_stop()` turned true."""


@dataclass(frozen=True)
class Hyperparameters:
    """Resolved values ("auto" already replaced by the trainer's `resolve_hyperparameters`)."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float

    def as_dict(self) -> dict[str, int | float]:
        """The values under OpenAI's names, as a job reports them."""
        return {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }


def requested_or_auto(requested: Mapping[str, object], name: str, auto: float) -> float:
    """The requested hyperparameter, or the trainer's `auto` choice when it is missing, None or "auto".

    Values were checked at job creation (`local_openai.api.hyperparameters`): anything else is a number."""
    value = requested.get(name, "auto")
    if value is None or value == "auto":
        return auto
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ClientError(
            f"hyperparameter {name} must be a number or 'auto', got {value!r}", param=f"hyperparameters.{name}"
        )
    return value


@dataclass
class TrainingContext:
    output_dir: Path
    hyperparameters: Hyperparameters
    seed: int
    validation_examples: Sequence[Sequence[Message]] = ()
    # report(step, total_steps, train_loss, train_accuracy, valid_loss) -> None; becomes a metrics event.
    report: Callable[..., None] = lambda **_: None
    # log(message) -> None; becomes an info event.
    log: Callable[[str], None] = lambda _message: None
    # checkpoint(epoch, step, directory_written) -> None; registers a usable checkpoint model. The runner takes the
    # directory over (moves it unless it is the final output directory) and keeps only the newest few checkpoints.
    checkpoint: Callable[[int, int, Path], None] = lambda *_: None
    should_stop: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class TrainResult:
    trained_tokens: int
    final_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatRequest:
    messages: Sequence[Message]
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: Sequence[str] = ()
    seed: int | None = None
    # The longest a batched generation holding this request may run (None: no limit); what is cut short ends with
    # finish_reason "length". Bounds how long one request with a large max_tokens holds a model for everyone.
    time_limit_s: float | None = None
    # token id -> bias added to its logit before choosing (OpenAI's logit_bias; -100 bans, 100 forces). Generative
    # backends check the ids against their vocabulary; classifiers ignore it.
    logit_bias: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


class Predictor(Protocol):
    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResult | ClientError]:
        """Answer a batch of requests; the server batches concurrent HTTP requests into one call.

        A request the model refuses on its own (e.g. ContextLengthExceeded) gets the exception in its place, so the
        rest of the batch is still answered."""


class Trainer(Protocol):
    base_model: str
    description: str
    # False for classifier backends: their base model cannot answer and chat completions get a 400.
    answers_without_fine_tuning: bool

    def resolve_hyperparameters(self, requested: dict[str, object], n_examples: int) -> Hyperparameters: ...

    def train(self, examples: Sequence[Sequence[Message]], ctx: TrainingContext) -> TrainResult:
        """Train into `ctx.output_dir`. Raise `TrainingCancelled` when `ctx.should_stop()`."""

    def load(self, model_dir: Path | None) -> Predictor:
        """Load a trained model directory, or the base model when `model_dir` is None."""
