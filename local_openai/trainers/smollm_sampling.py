"""Choosing each row's next token: its `logit_bias` added to the logits, then the most likely token at temperature 0,
else a draw at its temperature from its top_p nucleus.

Every sampled row draws from its own generator, seeded with the request's `seed` when it has one, so a seeded request
gives the same answer whatever else shares its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from local_openai.trainers.base import ChatRequest

Tensor = Any  # torch.Tensor, imported lazily


class TokenChooser:
    """The next-token rule of each request of a batch; rows are the requests' indices."""

    def __init__(self, requests: Sequence[ChatRequest], vocab_size: int):
        import torch

        self._bias: Tensor | None = None
        if any(request.logit_bias for request in requests):
            self._bias = torch.zeros(len(requests), vocab_size)
            for row, request in enumerate(requests):
                for token, bias in request.logit_bias.items():
                    self._bias[row, token] = bias
        self._samplers = [_Sampler(request) if request.temperature > 0 else None for request in requests]

    def choose(self, logits: Tensor, rows: Sequence[int]) -> list[int]:
        """The next token of each row in `rows`, whose logits are the same-numbered rows of `logits`."""
        if self._bias is not None:
            logits = logits + self._bias[list(rows)]
        tokens: list[int] = logits.argmax(-1).tolist()
        for position, row in enumerate(rows):
            sampler = self._samplers[row]
            if sampler is not None:
                tokens[position] = sampler.draw(logits[position])
        return tokens


class _Sampler:
    def __init__(self, request: ChatRequest):
        import torch

        self.temperature = request.temperature
        self.top_p = request.top_p
        self.generator = torch.Generator()
        if request.seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(request.seed)

    def draw(self, logits: Tensor) -> int:
        import torch

        probs = torch.softmax(logits / self.temperature, dim=-1)
        if self.top_p < 1:
            # The nucleus: the most likely tokens until their total reaches top_p (at least the most likely one).
            probs, order = probs.sort(descending=True)
            outside = probs.cumsum(-1) - probs >= self.top_p
            outside[0] = False
            choice = torch.multinomial(probs.masked_fill(outside, 0.0), 1, generator=self.generator)
            return int(order[choice])
        return int(torch.multinomial(probs, 1, generator=self.generator))
