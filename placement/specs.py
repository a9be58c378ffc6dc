"""Records shared by every algorithm: the model, the servers, a placement and a chain.

Units are the caller's choice but must be consistent: memory and sizes in one unit (bytes in the
live swarm, GB in the paper's simulations), times in seconds. Names follow the paper (§1):
``block_bytes`` = s_m, ``cache_bytes`` = s_c, ``memory`` = M_j, ``comm_time`` = τ^c_j,
``block_time`` = τ^p_j.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """A chain-structured service: ``num_blocks`` (L) blocks of ``block_bytes`` (s_m) each, and
    ``cache_bytes`` (s_c) of KV cache per job per block at the swarm's maximum length."""

    num_blocks: int
    block_bytes: float
    cache_bytes: float

    def __post_init__(self) -> None:
        if self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {self.num_blocks}")
        if self.block_bytes <= 0 or self.cache_bytes <= 0:
            raise ValueError("block_bytes and cache_bytes must be positive")


@dataclass(frozen=True)
class ServerSpec:
    """Server j: ``memory`` M_j it offers, ``comm_time`` τ^c_j (s per job) and ``block_time``
    τ^p_j (s per job per block)."""

    name: str
    memory: float
    comm_time: float
    block_time: float

    def __post_init__(self) -> None:
        if self.memory < 0 or self.comm_time < 0 or self.block_time < 0:
            raise ValueError(f"server {self.name!r}: memory and times must be >= 0")


@dataclass(frozen=True, order=True)
class Span:
    """Blocks ``[start, start + count)``, 0-based."""

    start: int
    count: int

    @property
    def end(self) -> int:
        """One past the last block (exclusive)."""
        return self.start + self.count

    def __contains__(self, block: int) -> bool:
        return self.start <= block < self.end


Placement = Mapping[str, Span]
"""Server name → its span. Servers hosting nothing are absent or have ``count == 0``."""


@dataclass(frozen=True)
class Chain:
    """A sequence of servers that together run blocks 0..L-1 in order (paper Eq.2, Eq.3).

    ``blocks[i]`` is m_ij, the number of blocks ``servers[i]`` computes for a job on this chain;
    ``service_time`` is T_k = Σ(τ^c_j + τ^p_j·m_ij); ``capacity`` is c_k, the number of jobs the
    chain may run at once.
    """

    servers: tuple[str, ...]
    blocks: tuple[int, ...]
    service_time: float
    capacity: int

    @property
    def rate(self) -> float:
        """μ_k = 1/T_k, jobs per second per job-server."""
        return 1.0 / self.service_time if self.service_time > 0 else float("inf")

    def spans(self) -> list[tuple[str, int, int]]:
        """(server, first block, end block exclusive) per hop, in chain order."""
        out, start = [], 0
        for name, m in zip(self.servers, self.blocks, strict=True):
            out.append((name, start, start + m))
            start += m
        return out


def hop_time(server: ServerSpec, num_blocks: int) -> float:
    """τ^c_j + τ^p_j·m_ij: one hop's share of a chain's service time (paper Eq.2)."""
    return server.comm_time + server.block_time * num_blocks


def make_chain(hops: Sequence[tuple[ServerSpec, int]], capacity: int) -> Chain:
    """The chain through ``hops`` = (server, m_ij) in order, T_k per Eq.2 summed with ``math.fsum``
    (correctly rounded, so equal hop times give equal T_k whatever their order)."""
    return Chain(
        servers=tuple(s.name for s, _ in hops),
        blocks=tuple(m for _, m in hops),
        service_time=math.fsum(hop_time(s, m) for s, m in hops),
        capacity=capacity,
    )
