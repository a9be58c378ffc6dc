"""Exact block and cache-slot counts (paper Eq.3 and Eq.6).

Both counts are floors of quotients, and binary floating point gets them wrong at exact integers:
``0.3 / 0.1 == 2.9999999999999996``, so a naive floor gives 2 where the paper means 3.

Semantics: an ``int`` is itself, and a ``float`` stands for its shortest decimal representation
(``repr(0.1) == '0.1'``), so every count is the floor of the *exact decimal* quotient.

- All-integer inputs (bytes in the live swarm) take a pure integer path: exact and fast.
- Float inputs take a float fast path. The float quotient is within a few ulps of the exact
  one, so its floor is right unless the quotient lies within a relative ``_NEAR_INTEGER`` of an
  integer; only then is the count recomputed exactly with :class:`fractions.Fraction`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from .specs import ModelSpec

Number = int | float

# Float error of the quotients below is ~1e-15 relative to their scale; anything within this much
# of an integer is recomputed exactly. Wide margin, still rare on real inputs.
_NEAR_INTEGER = 1e-9


def exact_value(x: Number) -> Fraction:
    """The exact rational an input stands for: an int itself, a float its shortest decimal repr."""
    if isinstance(x, int | np.integer):
        return Fraction(int(x))
    value = float(x)
    if not math.isfinite(value):
        raise ValueError(f"counts need finite inputs, got {value!r}")
    return Fraction(repr(value))


def _is_int(x: Number) -> bool:
    return type(x) is int or isinstance(x, np.integer)


def _near_integer(q: float, scale: float) -> bool:
    """Whether float rounding could have moved ``q`` across an integer (``scale`` bounds the terms)."""
    return abs(q - round(q)) <= _NEAR_INTEGER * max(1.0, scale)


def cache_slots(memory: Number, model: ModelSpec, num_blocks: int) -> int:
    """M̃_j = ⌊(M_j − s_m·m_j)/s_c⌋ (paper Eq.3): block-slots of KV cache left after hosting
    ``num_blocks`` blocks; 0 if the blocks alone do not fit."""
    if num_blocks < 0:
        raise ValueError(f"num_blocks must be >= 0, got {num_blocks}")
    s_m, s_c = model.block_bytes, model.cache_bytes
    if _is_int(memory) and _is_int(s_m) and _is_int(s_c):
        return max(0, (int(memory) - int(s_m) * num_blocks) // int(s_c))
    q = (memory - s_m * num_blocks) / s_c
    if not math.isfinite(q):
        raise ValueError(f"memory must be finite, got {memory!r}")
    if _near_integer(q, (abs(memory) + s_m * num_blocks) / s_c):
        exact = (exact_value(memory) - exact_value(s_m) * num_blocks) / exact_value(s_c)
        return max(0, math.floor(exact))
    return max(0, math.floor(q))


def blocks_for_reservation(memory: Number, model: ModelSpec, c: int) -> int:
    """m_j(c) = min(⌊M_j/(s_m + s_c·c)⌋, L) (paper Eq.6): blocks a server hosts when it keeps
    cache for ``c`` concurrent jobs on each of them."""
    if c < 0:
        raise ValueError(f"c must be >= 0, got {c}")
    s_m, s_c, num_blocks = model.block_bytes, model.cache_bytes, model.num_blocks
    if _is_int(memory) and _is_int(s_m) and _is_int(s_c):
        return max(0, min(int(memory) // (int(s_m) + int(s_c) * c), num_blocks))
    q = memory / (s_m + s_c * c)
    if not math.isfinite(q):
        raise ValueError(f"memory must be finite, got {memory!r}")
    if _near_integer(q, q):
        exact = exact_value(memory) / (exact_value(s_m) + exact_value(s_c) * c)
        return max(0, min(math.floor(exact), num_blocks))
    return max(0, min(math.floor(q), num_blocks))


class ExactMemories:
    """Many servers' memories, prepared once for :meth:`blocks_for_reservation` at many c (the
    search over c needs m_j(c) for every server and every c)."""

    def __init__(self, memories: Sequence[Number]):
        self.memories = tuple(memories)
        self._floats = np.asarray(self.memories, dtype=np.float64)
        if not np.all(np.isfinite(self._floats)):
            raise ValueError("memories must be finite")
        all_int = all(_is_int(m) for m in self.memories)
        self._ints = np.asarray([int(m) for m in self.memories], dtype=np.int64) if all_int else None

    def blocks_for_reservation(self, model: ModelSpec, c: int) -> np.ndarray:
        """m_j(c) for every memory, in order, as an int64 array (same values as the scalar)."""
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        s_m, s_c, num_blocks = model.block_bytes, model.cache_bytes, model.num_blocks
        if self._ints is not None and _is_int(s_m) and _is_int(s_c):
            return np.clip(self._ints // (int(s_m) + int(s_c) * c), 0, num_blocks)
        q = self._floats / (s_m + s_c * c)
        counts = np.floor(q)
        for i in np.flatnonzero(np.abs(q - np.round(q)) <= _NEAR_INTEGER * np.maximum(1.0, q)):
            counts[i] = blocks_for_reservation(self.memories[i], model, c)
        return np.clip(counts, 0, num_blocks).astype(np.int64)


def blocks_for_reservation_many(memories: Sequence[Number], model: ModelSpec, c: int) -> np.ndarray:
    """:func:`blocks_for_reservation` for many servers at once (int64 array, same order)."""
    return ExactMemories(memories).blocks_for_reservation(model, c)
