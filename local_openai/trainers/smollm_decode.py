"""Batched decoding with SmolLM2: one prefill of the whole batch, then one forward pass per token for the rows still
going, reusing their keys and values.

Prefill: the prompt start the batch shares (an experiment's requests differ only in their text) is computed once,
after what the predictor's `PrefixCache` already holds of it (so usually not at all), and each row computes only its
own remainder on top of it. Rows are sorted by remainder length and grouped into a few forward passes, each padded to
its longest row, so padding costs little. Decoding: the rows continue side by side in one batch, each its shared part
plus its remainder, padded to the longest (a 4D mask hides the padding; positions are each row's own).
A row stops at the end-of-turn token, at one of its stop strings, at its token limit or at its time limit; finished
rows leave the batch, and the loop ends when none is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from local_openai.trainers.base import ChatRequest
from local_openai.trainers.smollm_kv import KVBuffers, PrefixCache
from local_openai.trainers.smollm_sampling import TokenChooser

CausalLM = Any  # a transformers causal LM (its LoRA layers, if any, already set as they should be)
Tensor = Any  # torch.Tensor, imported lazily

# What one more forward pass costs, in token positions: the rows of a prefill are grouped by length into passes when
# the padding saved is worth more than that (SmolLM2 on 2 cores: about 100 ms a pass, 1.6 ms a position;
# 64 measured best of 24, 64, 200 and one pass).
FORWARD_OVERHEAD_TOKENS = 64
PASS_TOKENS = 4096  # most token positions in one prefill pass of several rows (bounds its activations and mask)


@dataclass
class Decoded:
    """A row's generated tokens (the end-of-turn token left out) and why it ended: "eos", "stop" or "length"."""

    tokens: list[int] = field(default_factory=list)
    reason: str = ""


def decode(
    model: CausalLM,
    prompts: Sequence[list[int]],
    requests: Sequence[ChatRequest],
    limits: Sequence[int],
    eos: int,
    text_of: Callable[[list[int]], str],
    prefixes: PrefixCache,
) -> list[Decoded]:
    """Complete each prompt (at least one token long) with at most its `limits` tokens (at least one);
    `text_of` turns tokens into text, to find the stop strings."""
    import torch

    with torch.inference_mode():
        started = time.monotonic()
        deadlines = [None if r.time_limit_s is None else started + r.time_limit_s for r in requests]
        chooser = TokenChooser(requests, model.config.vocab_size)
        results = [Decoded() for _ in prompts]
        rows, logits, cache, valid = _prefill(model, prompts, prefixes, room=min(max(limits), 64))
        positions = torch.tensor([len(prompts[row]) for row in rows])
        steps = 0
        while True:
            tokens = dict(zip(rows, chooser.choose(logits, rows), strict=True))
            now = time.monotonic()
            for row, token in tokens.items():
                results[row].reason = _reason(results[row], token, eos, requests[row].stop, limits[row], text_of)
                deadline = deadlines[row]
                if not results[row].reason and deadline is not None and now >= deadline:
                    results[row].reason = "length"
            going = [i for i, row in enumerate(rows) if not results[row].reason]
            if not going:
                return results
            if len(going) < len(rows):
                kept = torch.tensor(going)
                cache.select(kept)
                valid, positions = valid[kept], positions[kept]
                rows = [rows[i] for i in going]
            valid = torch.cat([valid, torch.ones(len(rows), 1, dtype=torch.bool)], dim=1)
            out = model(
                input_ids=torch.tensor([[tokens[row]] for row in rows]),
                attention_mask=valid[:, None, None, :],
                position_ids=(positions + steps)[:, None],
                cache=cache,
                use_cache=True,
            )
            cache.advance(1)
            steps += 1
            logits = out.logits[:, -1]


def _reason(
    result: Decoded, token: int, eos: int, stop: Sequence[str], limit: int, text_of: Callable[[list[int]], str]
) -> str:
    """Take `token` into the row's result; why the row ends with it ("" while it goes on)."""
    if token == eos:
        return "eos"
    result.tokens.append(token)
    if stop and any(s in text_of(result.tokens) for s in stop if s):
        return "stop"
    return "length" if len(result.tokens) >= limit else ""


def _prefill(
    model: CausalLM, prompts: Sequence[list[int]], prefixes: PrefixCache, room: int
) -> tuple[list[int], Tensor, KVBuffers, Tensor]:
    """The rows in the order of the batch's cache, the logits of each one's next token, the cache, and which of its
    columns each row attends to."""
    import torch

    # A batch of one computes what is not cached with its own tokens: one forward pass, not two.
    shared = prefixes.common_length(prompts[0][:-1]) if len(prompts) == 1 else _shared_length(prompts)
    cached = prefixes.common_length(prompts[0][:shared])
    prefix = prefixes.buffers(cached, room=shared - cached)
    if cached < shared:
        _forward(model, prefix, [prompts[0][cached:shared]], start=cached)
        prefixes.store(prompts[0][:shared], prefix)
    order = sorted(range(len(prompts)), key=lambda row: len(prompts[row]))
    parts, logits = [], []
    for group in _groups([len(prompts[row]) - shared for row in order]):
        rows = order[group.start : group.stop]
        part = prefix.expanded(len(rows), room=len(prompts[rows[-1]]) - shared)
        logits.append(_forward(model, part, [prompts[row][shared:] for row in rows], start=shared))
        parts.append(part)
    if len(prompts) == 1:
        prefixes.store(prompts[0], parts[0])
    cache = KVBuffers.stacked(parts, room)
    lengths = torch.tensor([len(prompts[row]) for row in order])
    valid = torch.arange(cache.length)[None, :] < lengths[:, None]
    return order, torch.cat(logits), cache, valid


def _forward(model: CausalLM, cache: KVBuffers, remainders: list[list[int]], start: int) -> Tensor:
    """Run the remainders (right-padded) after the `start` columns every row of `cache` holds; each one's logits
    after its last token. Padding sees its row's tokens and itself only, so no attention row is empty."""
    import torch

    width = max(len(r) for r in remainders)
    lengths = torch.tensor([len(r) for r in remainders])
    ids = torch.tensor([r + [r[-1]] * (width - len(r)) for r in remainders])
    offsets = torch.arange(width)
    real = offsets[None, :] < lengths[:, None]  # [rows, width]
    causal = offsets[None, :] <= offsets[:, None]  # [query, key]
    new_keys = causal[None] & (real[:, None, :] | torch.eye(width, dtype=torch.bool)[None])
    mask = torch.cat([torch.ones(len(remainders), width, start, dtype=torch.bool), new_keys], dim=2)
    out = model(
        input_ids=ids,
        attention_mask=mask[:, None],
        position_ids=start + offsets[None, :].expand(len(remainders), -1),
        cache=cache,
        use_cache=True,
        logits_to_keep=(lengths - 1)[:, None],
    )
    cache.advance(width)
    return out.logits[:, -1]


def _groups(lengths: list[int], overhead: int = FORWARD_OVERHEAD_TOKENS) -> list[range]:
    """Consecutive groups of the (ascending) remainder lengths, each one forward pass padded to its longest: the
    split computing the fewest token positions, counting `overhead` more for each pass (at most PASS_TOKENS
    positions in a pass of several rows)."""
    best = [0] * (len(lengths) + 1)  # best[j]: the cost of the first j rows
    cut = [0] * (len(lengths) + 1)  # cut[j]: where the last group of the best split of the first j rows starts
    for stop in range(1, len(lengths) + 1):
        best[stop], cut[stop] = min(
            (best[start] + (stop - start) * lengths[stop - 1] + overhead, start)
            for start in range(stop)
            if start == stop - 1 or (stop - start) * lengths[stop - 1] <= PASS_TOKENS
        )
    groups = []
    stop = len(lengths)
    while stop:
        groups.append(range(cut[stop], stop))
        stop = cut[stop]
    return groups[::-1]


def _shared_length(prompts: Sequence[list[int]]) -> int:
    """How many leading tokens all prompts share, leaving each at least one of its own (its last token's logits
    choose its first answer token)."""
    shortest = min(len(p) for p in prompts)
    first = prompts[0]
    n = 0
    while n < shortest - 1 and all(p[n] == first[n] for p in prompts):
        n += 1
    return n
