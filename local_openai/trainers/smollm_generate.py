"""Answering chat requests with SmolLM2: batched decoding over the shared base model.

Generation uses the model's own chat template (a conversation without a system message gets SmolLM's default one),
greedy at temperature 0, sampling with temperature/top_p/seed otherwise, each row with its own settings, so a whole
batch is answered by one `decode` (`smollm_decode`). No label forcing: the client gets what the model writes, unless
its `logit_bias` steers the choice of tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from local_openai.trainers.base import ChatRequest, ChatResult, ClientError, ContextLengthExceeded
from local_openai.trainers.smollm_data import chat_template_messages
from local_openai.trainers.smollm_decode import Decoded, decode
from local_openai.trainers.smollm_kv import PrefixCache
from local_openai.trainers.smollm_model import CausalLM, SmolLMBase

DEFAULT_MAX_TOKENS = 512  # completion cap when the request gives none


class SmolLMPredictor:
    """Answers chat requests with the shared base model, with one LoRA adapter active or none."""

    def __init__(self, base: SmolLMBase, adapter: str | None, model: CausalLM | None = None):
        """`adapter` names a LoRA adapter loaded into the base model; `model` is a separately loaded full model."""
        self.base = base
        self._adapter = adapter
        self._model = model
        self._prefixes = PrefixCache()  # this predictor's weights' keys and values, so its own

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResult | ClientError]:
        """Requests whose prompt plus max_tokens exceed the context window are refused, as OpenAI does; a request
        without max_tokens gets up to DEFAULT_MAX_TOKENS of what the window has left."""
        tokenizer = self.base.tokenizer
        window = self.base.context_window
        results: list[ChatResult | ClientError | None] = [None] * len(requests)
        answered: list[int] = []
        prompts: list[list[int]] = []
        for index, request in enumerate(requests):
            prompt = tokenizer.apply_chat_template(
                chat_template_messages(request.messages), tokenize=False, add_generation_prompt=True
            )
            ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            if len(ids) + (request.max_tokens or 1) > window:
                results[index] = ContextLengthExceeded(window, len(ids), request.max_tokens or 1)
            elif unknown := self._unknown_token(request):
                results[index] = unknown
            else:
                answered.append(index)
                prompts.append(ids)
        if answered:
            batch = [requests[i] for i in answered]
            limits = [
                r.max_tokens if r.max_tokens is not None else min(DEFAULT_MAX_TOKENS, window - len(ids))
                for r, ids in zip(batch, prompts, strict=True)
            ]
            for index, decoded, ids in zip(answered, self._decode(prompts, batch, limits), prompts, strict=True):
                results[index] = self._finish(decoded, requests[index], len(ids))
        return [r for r in results if r is not None]

    def _unknown_token(self, request: ChatRequest) -> ClientError | None:
        vocabulary = int(self.base.model.config.vocab_size)
        unknown = sorted(token for token in request.logit_bias if not 0 <= token < vocabulary)
        if not unknown:
            return None
        return ClientError(
            f"Invalid key in 'logit_bias': {unknown[0]}. Token ids of this model are 0 to {vocabulary - 1}.",
            param="logit_bias",
        )

    def _decode(self, prompts: list[list[int]], requests: list[ChatRequest], limits: list[int]) -> list[Decoded]:
        tokenizer = self.base.tokenizer
        with self.base.lock:
            model = self._model if self._model is not None else self.base.model
            if self._adapter is not None:
                model.set_adapter(self._adapter)
            serving_base = self._adapter is None and self._model is None and hasattr(model, "disable_adapter")
            with model.disable_adapter() if serving_base else contextlib.nullcontext():
                # Past peft's wrapper: the causal LM itself, its LoRA layers as just set.
                network = model.get_base_model() if hasattr(model, "get_base_model") else model
                return decode(
                    network,
                    prompts,
                    requests,
                    limits,
                    tokenizer.eos_token_id,
                    lambda tokens: tokenizer.decode(tokens, skip_special_tokens=True),
                    self._prefixes,
                )

    def _finish(self, decoded: Decoded, request: ChatRequest, prompt_tokens: int) -> ChatResult:
        """The answer's text, cut before its first stop string, and its usage (the end-of-turn token counts)."""
        tokenizer = self.base.tokenizer
        text: str = tokenizer.decode(decoded.tokens, skip_special_tokens=True)
        finish = "length" if decoded.reason == "length" else "stop"
        used = len(decoded.tokens) + (1 if decoded.reason == "eos" else 0)
        cuts = [text.find(s) for s in request.stop if s and s in text]
        if cuts:
            text = text[: min(cuts)]
            finish = "stop"
            used = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        return ChatResult(text=text, prompt_tokens=prompt_tokens, completion_tokens=used, finish_reason=finish)
