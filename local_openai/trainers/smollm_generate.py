"""Answering chat requests with SmolLM2: batched generation over the shared base model.

Generation uses the model's own chat template (a conversation without a system message gets SmolLM's default one),
greedy at temperature 0, sampling with temperature/top_p/seed otherwise; requests with equal sampling settings are
answered by one left-padded `generate` call. No label forcing: the client gets what the model writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from local_openai.trainers.base import ChatRequest, ChatResult, ClientError, ContextLengthExceeded
from local_openai.trainers.smollm_data import chat_template_messages
from local_openai.trainers.smollm_model import CausalLM, SmolLMBase

DEFAULT_MAX_TOKENS = 512  # completion cap when the request gives none

SamplingKey = tuple[object, ...]


class SmolLMPredictor:
    """Answers chat requests with the shared base model, with one LoRA adapter active or none."""

    def __init__(self, base: SmolLMBase, adapter: str | None, model: CausalLM | None = None):
        """`adapter` names a LoRA adapter loaded into the base model; `model` is a separately loaded full model."""
        self.base = base
        self._adapter = adapter
        self._model = model

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResult | ClientError]:
        """Requests whose prompt plus max_tokens exceed the context window are refused, as OpenAI does; a request
        without max_tokens gets up to DEFAULT_MAX_TOKENS of what the window has left."""
        tokenizer = self.base.tokenizer
        window = self.base.context_window
        results: list[ChatResult | ClientError | None] = [None] * len(requests)
        groups: dict[SamplingKey, list[int]] = {}
        encoded: dict[int, list[int]] = {}
        for index, request in enumerate(requests):
            prompt = tokenizer.apply_chat_template(
                chat_template_messages(request.messages), tokenize=False, add_generation_prompt=True
            )
            ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            if len(ids) + (request.max_tokens or 1) > window:
                results[index] = ContextLengthExceeded(window, len(ids), request.max_tokens or 1)
                continue
            encoded[index] = ids
            key: SamplingKey = ("greedy",)
            if request.temperature > 0:
                key = ("sample", request.temperature, request.top_p, request.seed)
            groups.setdefault(key, []).append(index)
        for indices in groups.values():
            answers = self._generate([requests[i] for i in indices], [encoded[i] for i in indices], window)
            for index, result in zip(indices, answers, strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    def _generate(self, requests: Sequence[ChatRequest], encoded: list[list[int]], window: int) -> list[ChatResult]:
        """One generate call for requests of equal sampling settings, each already known to fit the window."""
        import torch

        tokenizer = self.base.tokenizer
        model = self._model if self._model is not None else self.base.model
        width = max(len(ids) for ids in encoded)
        limits = [
            r.max_tokens if r.max_tokens is not None else min(DEFAULT_MAX_TOKENS, window - len(ids))
            for r, ids in zip(requests, encoded, strict=True)
        ]
        # The batch shares one length: never past the window for its longest prompt (those cut end with "length").
        max_new = max(1, min(max(limits), window - width))
        time_limits = [r.time_limit_s for r in requests if r.time_limit_s is not None]
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
        first = requests[0]
        sampling: dict[str, object] = {"do_sample": False}
        if first.temperature > 0:
            sampling = {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
        eos: int = tokenizer.eos_token_id
        with self.base.lock, torch.inference_mode():
            if self._adapter is not None:
                model.set_adapter(self._adapter)
            serving_base = self._adapter is None and self._model is None and hasattr(model, "disable_adapter")
            if first.temperature > 0 and first.seed is not None:
                torch.manual_seed(first.seed)
            with model.disable_adapter() if serving_base else contextlib.nullcontext():
                output = model.generate(
                    input_ids=input_ids,
                    attention_mask=attention,
                    max_new_tokens=max_new,
                    pad_token_id=pad,
                    eos_token_id=eos,
                    max_time=min(time_limits) if time_limits else None,
                    **sampling,
                )
        return [
            self._finish(row, request, len(ids), limit, eos)
            for row, request, ids, limit in zip(output[:, width:].tolist(), requests, encoded, limits, strict=True)
        ]

    def _finish(
        self, generated: list[int], request: ChatRequest, prompt_tokens: int, limit: int, eos: int
    ) -> ChatResult:
        tokenizer = self.base.tokenizer
        finish = "length"
        if eos in generated[:limit]:
            generated = generated[: generated.index(eos)]
            finish = "stop"
        else:
            generated = generated[:limit]
        used = len(generated) + (1 if finish == "stop" else 0)
        text: str = tokenizer.decode(generated, skip_special_tokens=True)
        cuts = [text.find(s) for s in request.stop if s and s in text]
        if cuts:
            text = text[: min(cuts)]
            finish = "stop"
            used = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        return ChatResult(text=text, prompt_tokens=prompt_tokens, completion_tokens=used, finish_reason=finish)
