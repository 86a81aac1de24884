"""The check shown before launch: is the training file valid, and how many tokens and dollars each run costs.

The web form and the JSON API both show this report, so they give the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.dataset_sampling import Split
from shared.jsonl import chat_jsonl, validate_chat_jsonl
from shared.pricing import PRICES_AS_OF, inference_cost, resolve_epochs, training_cost
from shared.prompts import PRESETS, PromptPreset, evaluation_messages, training_examples
from shared.record_types import Auto, PrelaunchReport, RunState
from shared.records import ExperimentSpec, normalize_hyperparameters
from shared.tokens import count_examples, count_messages


@dataclass
class ModelEstimate:
    model: str
    kind: str
    training_tokens: int | None
    evaluation_tokens: int
    tokens_exact: bool
    cost_usd: float | None
    note: str = ""

    @property
    def tokens(self) -> int:
        return (self.training_tokens or 0) + self.evaluation_tokens

    @property
    def cost(self) -> str:
        if self.cost_usd is None:
            return "unknown (model not in the price table)"
        return f"${self.cost_usd:.4f}"


@dataclass
class Report:
    ok: bool
    n_examples: int
    n_train: int
    n_test: int
    issues: list[tuple[int, str]]
    models: list[ModelEstimate] = field(default_factory=list)
    price_note: str = ""

    def to_dict(self) -> PrelaunchReport:
        return {
            "ok": self.ok,
            "n_examples": self.n_examples,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "issues": [{"line": line, "message": message} for line, message in self.issues],
            "models": [
                {
                    "model": m.model,
                    "kind": m.kind,
                    "training_tokens": m.training_tokens,
                    "evaluation_tokens": m.evaluation_tokens,
                    "tokens_exact": m.tokens_exact,
                    "cost_usd": m.cost_usd,
                    "note": m.note,
                }
                for m in self.models
            ],
            "price_note": self.price_note,
        }


def prelaunch_report(
    split: Split, prompt: PromptPreset, models: list[str], zero_shot: list[str], n_epochs: int | str
) -> Report:
    """Validate the training file the worker will upload and estimate each run's tokens and cost.

    Training tokens count one epoch times `n_epochs` ("auto": the epochs OpenAI picks for this many examples);
    evaluation counts the prompts sent for the test set plus `max_tokens` of output per item (an upper bound),
    priced at fine-tuned-model rates for a fine-tuned run (or an `ft:` model) and base-model rates otherwise.
    """
    examples = [example for item in split.train for example in training_examples(prompt, item.text, item.label)]
    validation = validate_chat_jsonl(chat_jsonl(examples))
    prompt_tokens = sum(count_messages(evaluation_messages(prompt, item.text)) for item in split.test)
    output_tokens = prompt.max_tokens * len(split.test)
    epochs = resolve_epochs(n_epochs, len(examples))
    report = Report(
        ok=validation.ok,
        n_examples=validation.n_examples,
        n_train=len(split.train),
        n_test=len(split.test),
        issues=list(validation.issues),
    )
    for kind, names in (("fine-tuned", models), ("zero-shot", zero_shot)):
        for model in names:
            count = count_examples(examples, model)
            training = count.tokens * epochs if kind == "fine-tuned" else None
            fine_tuned = kind == "fine-tuned" or model.startswith("ft:")  # zero-shot may ask an ft: model
            costs = [inference_cost(model, prompt_tokens, output_tokens, fine_tuned=fine_tuned)]
            if training is not None:
                costs.append(training_cost(model, training))
            known = [part for part in costs if part is not None]
            cost = round(sum(known), 6) if len(known) == len(costs) else None
            report.models.append(
                ModelEstimate(
                    model=model,
                    kind=kind,
                    training_tokens=training,
                    evaluation_tokens=prompt_tokens + output_tokens,
                    tokens_exact=count.exact,
                    cost_usd=cost,
                    note=count.note,
                )
            )
    epochs_note = (
        ""
        if n_epochs != "auto"
        else f" Epochs are 'auto': counted as {epochs}, what OpenAI picks for {len(examples)} examples."
    )
    report.price_note = (
        f"Training plus test-set evaluation, prices as of {PRICES_AS_OF}; local models are free." + epochs_note
    )
    return report


def run_estimates(
    split: Split, prompt: PromptPreset, runs: Sequence[RunState], n_epochs: int | Auto
) -> dict[str, float | None]:
    """Each run's pre-launch cost estimate (`cost_estimate_usd`), as the form and the API showed it before launch,
    by run id; kept beside the run's actual `cost_usd`."""
    report = prelaunch_report(
        split,
        prompt,
        [run["base_model"] for run in runs if run["kind"] == "fine-tuned"],
        [run["base_model"] for run in runs if run["kind"] == "zero-shot"],
        n_epochs,
    )
    ordered = [
        *[run for run in runs if run["kind"] == "fine-tuned"],
        *[run for run in runs if run["kind"] == "zero-shot"],
    ]
    return {run["id"]: estimate.cost_usd for run, estimate in zip(ordered, report.models, strict=True)}


def spec_report(spec: ExperimentSpec, split: Split) -> Report:
    """The pre-launch report of an experiment on its drawn split: what the form's Check shows, and what
    `worker.pipeline.check_and_submit` requires to pass before it submits."""
    prompt = spec.prompt or PRESETS["reference"]
    n_epochs = normalize_hyperparameters(spec.hyperparameters)["n_epochs"]
    return prelaunch_report(split, prompt, spec.models, spec.zero_shot, n_epochs)
