"""A validated, name-sorted array view of the servers, built once and reused.

GBP-CR and the search over c (paper §3.5) evaluate every server for every c; holding τ^c, τ^p
and M as numpy arrays keeps that vectorized. Sorting by name makes every tie-break "by name" a
tie-break by array index, and makes results independent of the order servers were listed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .exact import ExactMemories
from .specs import ModelSpec, ServerSpec


@dataclass(frozen=True)
class Fleet:
    """Servers sorted by name; ``comm_time``/``block_time`` are float arrays in that order and
    ``memory`` their memories ready for exact counts."""

    servers: tuple[ServerSpec, ...]
    comm_time: np.ndarray = field(repr=False)
    block_time: np.ndarray = field(repr=False)
    memory: ExactMemories = field(repr=False)

    @classmethod
    def of(cls, servers: Iterable[ServerSpec] | Fleet) -> Fleet:
        """Sort and check ``servers`` (names must be unique); a Fleet is returned as is."""
        if isinstance(servers, Fleet):
            return servers
        ordered = tuple(sorted(servers, key=lambda s: s.name))
        names = [s.name for s in ordered]
        duplicates = sorted({n for a, n in zip(names, names[1:], strict=False) if a == n})
        if duplicates:
            raise ValueError(f"server names must be unique; repeated: {duplicates}")
        return cls(
            servers=ordered,
            comm_time=np.array([s.comm_time for s in ordered], dtype=np.float64),
            block_time=np.array([s.block_time for s in ordered], dtype=np.float64),
            memory=ExactMemories([s.memory for s in ordered]),
        )

    def __len__(self) -> int:
        return len(self.servers)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.servers]

    def blocks_for_reservation(self, model: ModelSpec, c: int) -> np.ndarray:
        """m_j(c) for every server (paper Eq.6), exact, as an int64 array."""
        return self.memory.blocks_for_reservation(model, c)
