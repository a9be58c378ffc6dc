"""The "JFFC only" baseline (paper Table I): every server that fits the whole model hosts all L
blocks, forms a one-server chain, and the chains are dispatched with JFFC from a central queue.
No cache reservation split and no multi-server chains."""

from __future__ import annotations

from collections.abc import Sequence

from chainswarm.placement import cache_slots
from chainswarm.placement.specs import Chain, ModelSpec, ServerSpec, Span


def jffc_only_capacity(memory: float, model: ModelSpec) -> int:
    """Concurrent jobs a whole-model server can run: ⌊(M − s_m·L)/(s_c·L)⌋, exact; 0 if it does
    not fit the model with one job's cache."""
    L = model.num_blocks
    if memory < model.block_bytes * L:
        return 0
    return cache_slots(memory, model, L) // L


def jffc_only_placement(servers: Sequence[ServerSpec], model: ModelSpec) -> dict[str, Span]:
    """Span(0, L) for each server with capacity ≥ 1."""
    return {s.name: Span(0, model.num_blocks) for s in servers if jffc_only_capacity(s.memory, model) >= 1}


def jffc_only_chains(servers: Sequence[ServerSpec], model: ModelSpec) -> list[Chain]:
    """One chain per whole-model server, T = τ^c + τ^p·L, fastest first (ties by name).

    Raises ValueError when no server fits the whole model.
    """
    L = model.num_blocks
    chains = [
        Chain((s.name,), (L,), s.comm_time + s.block_time * L, jffc_only_capacity(s.memory, model))
        for s in servers
        if jffc_only_capacity(s.memory, model) >= 1
    ]
    if not chains:
        raise ValueError(
            f"JFFC-only: no server fits the whole model ({L} blocks of {model.block_bytes} plus one job's cache)"
        )
    return sorted(chains, key=lambda c: (c.service_time, c.servers))
