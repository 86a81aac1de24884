"""Keys and values for SmolLM2 decoding: growing per-layer buffers for a batch, and the last shared prompt prefix.

`KVBuffers` is the part of transformers' `Cache` that Llama attention calls, `update(key, value, layer_idx)`: it
writes a forward pass's new keys and values after the filled columns of a preallocated buffer and returns the filled
view, so a decode step writes one column where `DynamicCache` would copy the whole cache. Masks and positions are the
caller's: the model gets a 4D boolean mask and position ids with every call, so nothing here tracks padding.
"""

from __future__ import annotations

from typing import Any

Tensor = Any  # torch.Tensor; torch is imported lazily (the server starts without it)

GROWTH = 64  # columns added whenever a buffer is full


class KVBuffers:
    """Per layer, keys and values of shape [batch, kv_heads, capacity, head_dim], filled up to `length` columns."""

    def __init__(self, keys: list[Tensor], values: list[Tensor], length: int):
        self.keys = keys
        self.values = values
        self.length = length

    @classmethod
    def holding(cls, keys: list[Tensor], values: list[Tensor], room: int) -> KVBuffers:
        """Buffers starting with copies of `keys`/`values` (each [batch, kv_heads, n, head_dim]), `room` columns
        free after them."""
        import torch

        def grown(tensor: Tensor) -> Tensor:
            batch, heads, length, dim = tensor.shape
            buffer = torch.empty(batch, heads, length + room, dim, dtype=tensor.dtype)
            buffer[:, :, :length] = tensor
            return buffer

        length = keys[0].shape[2] if keys else 0
        return cls([grown(k) for k in keys], [grown(v) for v in values], length)

    def update(
        self, key: Tensor, value: Tensor, layer_idx: int, *args: object, **kwargs: object
    ) -> tuple[Tensor, Tensor]:
        """Store this forward pass's keys and values of one layer; all of that layer's so far (the model's call)."""
        if len(self.keys) <= layer_idx:  # empty buffers (no cached prefix): the first call sizes each layer
            self.keys.append(key.new_empty(key.shape[0], key.shape[1], 0, key.shape[3]))
            self.values.append(value.new_empty(value.shape[0], value.shape[1], 0, value.shape[3]))
        end = self.length + key.shape[2]
        if end > self.keys[layer_idx].shape[2]:
            self.keys[layer_idx] = _widened(self.keys[layer_idx], self.length, end + GROWTH)
            self.values[layer_idx] = _widened(self.values[layer_idx], self.length, end + GROWTH)
        self.keys[layer_idx][:, :, self.length : end] = key
        self.values[layer_idx][:, :, self.length : end] = value
        return self.keys[layer_idx][:, :, :end], self.values[layer_idx][:, :, :end]

    def advance(self, columns: int) -> None:
        """After a forward pass: its `columns` new keys and values are part of the cache from now on."""
        self.length += columns

    def select(self, rows: Tensor) -> None:
        """Keep only these batch rows (those still decoding), in this order."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]

    def expanded(self, batch: int, room: int) -> KVBuffers:
        """Buffers of `batch` rows, each starting with this batch-of-one cache's keys and values."""
        return KVBuffers.holding(
            [k[:, :, : self.length].expand(batch, -1, -1, -1) for k in self.keys],
            [v[:, :, : self.length].expand(batch, -1, -1, -1) for v in self.values],
            room,
        )

    @classmethod
    def stacked(cls, parts: list[KVBuffers], room: int) -> KVBuffers:
        """The rows of all `parts`, in order, as one batch as long as the longest part (shorter parts' rows end in
        columns of no meaning: the caller's mask hides them), with `room` columns free after that."""
        length = max(part.length for part in parts)

        def stack(tensors: list[Tensor]) -> Tensor:
            first = tensors[0]
            buffer = first.new_zeros(sum(t.shape[0] for t in tensors), first.shape[1], length + room, first.shape[3])
            start = 0
            for tensor, part in zip(tensors, parts, strict=True):
                buffer[start : start + tensor.shape[0], :, : part.length] = tensor[:, :, : part.length]
                start += tensor.shape[0]
            return buffer

        layers = range(len(parts[0].keys))
        return cls(
            [stack([p.keys[i] for p in parts]) for i in layers],
            [stack([p.values[i] for p in parts]) for i in layers],
            length,
        )


def _widened(buffer: Tensor, filled: int, capacity: int) -> Tensor:
    wider = buffer.new_empty(buffer.shape[0], buffer.shape[1], capacity, buffer.shape[3])
    wider[:, :, :filled] = buffer[:, :, :filled]
    return wider


class PrefixCache:
    """The keys and values of the last batch's shared prompt prefix, for the next batch to start from.

    Consecutive batches of one model mostly share their prompts' start (the chat template's system part, an
    experiment's instruction text): the next batch computes only what follows the part it has in common with this
    one. One per predictor, so per adapter; used under the base model's lock.
    """

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self._keys: list[Tensor] = []
        self._values: list[Tensor] = []

    def common_length(self, tokens: list[int]) -> int:
        """How many leading tokens of `tokens` this cache holds."""
        n = 0
        for cached, token in zip(self.tokens, tokens, strict=False):
            if cached != token:
                break
            n += 1
        return n

    def buffers(self, length: int, room: int) -> KVBuffers:
        """Batch-of-one buffers holding the first `length` cached tokens, with `room` columns free after them."""
        if length == 0:
            return KVBuffers([], [], 0)
        return KVBuffers.holding([k[:, :, :length] for k in self._keys], [v[:, :, :length] for v in self._values], room)

    def store(self, tokens: list[int], buffers: KVBuffers) -> None:
        """Remember `tokens`, whose keys and values are the first columns of `buffers`' first row."""
        self.tokens = list(tokens)
        self._keys = [k[:1, :, : len(tokens)].clone() for k in buffers.keys]
        self._values = [v[:1, :, : len(tokens)].clone() for v in buffers.values]
