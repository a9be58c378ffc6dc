"""Per-session KV caches for a span of blocks, preallocated at the session's maximum length.

`SpanCache` is what transformers' attention layers see as `cache`: they call
`cache.update(key, value, layer_idx)` with the new tokens' keys/values (after RoPE) and get back
the keys/values of every token so far. Storage is allocated once, at `max_length`, matching the
paper's s_c per block-slot, so a node that reserved the slots never runs out of memory mid-session.

Layout per block (global index b, local b − first_block):

    keys[local]: (batch, kv_heads, max_length, head_dim)   columns [0, length) valid
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class CacheOverflowError(ValueError):
    """A step would take a session past the max_length its cache was opened with."""


class SpanCache:
    """KV cache of one session (batch_size rows at the same length) over blocks [first_block, last_block).

    `length` advances only after a whole step has gone through every block, so a step that fails
    half-way leaves the cache as it was before the step.
    """

    def __init__(
        self,
        first_block: int,
        last_block: int,
        max_length: int,
        *,
        num_kv_heads: int,
        head_dim: int,
        batch_size: int = 1,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        if max_length < 1 or batch_size < 1 or first_block >= last_block:
            raise ValueError(
                f"bad cache shape: blocks [{first_block}, {last_block}), max_length {max_length}, batch {batch_size}"
            )
        self.first_block = first_block
        self.last_block = last_block
        self.max_length = max_length
        self.batch_size = batch_size
        self.length = 0
        self.decode_graph: object | None = None  # models.graphs.DecodeGraph, set by whoever captures one
        shape = (batch_size, num_kv_heads, max_length, head_dim)
        n = last_block - first_block
        # zeros, not empty: padded batch columns are read (masked), and NaN garbage × 0 weight is NaN
        self._keys: list[torch.Tensor] | None = [
            torch.zeros(shape, dtype=dtype, device=device) for _ in range(n)
        ]
        self._values: list[torch.Tensor] | None = [
            torch.zeros(shape, dtype=dtype, device=device) for _ in range(n)
        ]

    @property
    def nbytes(self) -> int:
        """Bytes held: batch_size · (last − first) · cache_bytes(max_length); 0 once discarded."""
        if self._keys is None:
            return 0
        return sum(t.numel() * t.element_size() for t in self._keys + self._values)

    @property
    def discarded(self) -> bool:
        return self._keys is None

    def discard(self) -> None:
        """Free the storage now, and the decode graph that points into it; the cache cannot be used
        afterwards. Idempotent."""
        self._keys = self._values = None
        self.decode_graph = None

    def truncate(self, length: int) -> None:
        """Forget the tokens at positions ≥ length (e.g. to replay a step a client re-sent)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of length {self.length} to {length}")
        self.length = length

    def check_room(self, steps: int) -> None:
        """Raise CacheOverflowError unless `steps` more tokens fit."""
        if self.discarded:
            raise ValueError("this cache was discarded")
        if self.length + steps > self.max_length:
            raise CacheOverflowError(
                f"{steps} more tokens would take the session to {self.length + steps} tokens, past its "
                f"max_length {self.max_length}; open the session with a larger max_length"
            )

    def advance(self, steps: int) -> None:
        """Mark `steps` tokens written by every block as part of the sequence (called by BlockSpan)."""
        self.check_room(steps)
        self.length += steps

    def block_kv(self, block: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of block `block` for the tokens so far: (batch, kv_heads, length, head_dim) views."""
        keys, values = self._storage(block)
        return keys[:, :, : self.length], values[:, :, : self.length]

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *_: object, **__: object):
        """transformers' Cache hook: store the new tokens of block `layer_idx` after the current ones.

        Extra arguments (`cache_kwargs` in older transformers, `kwargs=` in newer) are not needed.
        """
        keys, values = self._storage(layer_idx)
        end = self.length + key.shape[2]
        keys[:, :, self.length : end] = key
        values[:, :, self.length : end] = value
        return keys[:, :, :end], values[:, :, :end]

    def _storage(self, block: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._keys is None:
            raise ValueError("this cache was discarded")
        if not self.first_block <= block < self.last_block:
            raise IndexError(f"block {block} is not in this cache's [{self.first_block}, {self.last_block})")
        return self._keys[block - self.first_block], self._values[block - self.first_block]


class BatchedCaches:
    """Several sessions' caches seen by the layers as one batch: rows right-padded to the longest, pads zero."""

    def __init__(self, caches: Sequence[SpanCache]):
        self._caches = caches

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *_: object, **__: object):
        steps = key.shape[2]
        total = max(c.length for c in self._caches) + steps
        shape = (key.shape[0], key.shape[1], total, key.shape[3])
        all_keys = key.new_zeros(shape)
        all_values = value.new_zeros(shape)
        row = 0
        for c in self._caches:
            rows = slice(row, row + c.batch_size)
            k, v = c.update(key[rows], value[rows], layer_idx)
            all_keys[rows, :, : k.shape[2]] = k
            all_values[rows, :, : v.shape[2]] = v
            row += c.batch_size
        return all_keys, all_values


class StaticPositionWriter:
    """One session's cache seen by the layers with a write position held in a device tensor.

    `update` stores the step's keys/values at `position` and returns every column up to
    `max_length`; the span's mask hides the columns at and after the next position. Static shapes
    and addresses: the form a CUDA graph can capture and replay (BlockSpan.decode_static).
    """

    def __init__(self, cache: SpanCache, position: torch.Tensor):
        self._cache = cache
        self._position = position

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *_: object, **__: object):
        keys, values = self._cache._storage(layer_idx)
        keys.index_copy_(2, self._position, key)
        values.index_copy_(2, self._position, value)
        return keys, values
