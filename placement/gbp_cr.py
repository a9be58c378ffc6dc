"""GBP-CR: greedy block placement with cache reservation (paper §3.1, Alg. 1).

Each server hosts m_j(c) = min(⌊M_j/(s_m + s_c·c)⌋, L) blocks, leaving cache for ``c`` jobs on
each. Servers are taken fastest first by amortized time per block t̃_j(c) = t_j(c)/m_j(c), with
t_j(c) = τ^c_j + τ^p_j·m_j(c), and laid end to end into disjoint chains; the last server of a chain
is shifted back so the chain ends exactly at block L (overlap allowed). Chains are formed until
their service rate ν = Σ_k 1/Σ_{j∈k} t_j(c) reaches λ/(ρ̄·c); later servers host nothing.

Tie-break: servers with equal t̃_j(c) (as floats) are taken in name order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .fleet import Fleet
from .specs import Chain, ModelSpec, ServerSpec, Span, make_chain


class InfeasiblePlacement(ValueError):
    """No placement exists for the request: the servers cannot host all L blocks with this c
    (Σ_j m_j(c) < L), or, from :func:`choose_c`, no c gives a stable plan. Add servers or memory,
    lower c, or lower the arrival rate."""


@dataclass(frozen=True)
class GbpCrPlan:
    """What Alg. 1 produces for one c.

    ``placement``: hosting servers only, in GBP-CR order (0-based spans).
    ``chains``: the complete disjoint chains k_1..k_K(c), each with capacity c and T_k per Eq.2
    (the last hop counts only the blocks it adds); K(c) = len(chains).
    ``service_rate``: ν of the stopping rule, Σ_k 1/Σ_{j∈k} t_j(c) (Lemma 1's bound).
    ``target_met``: whether ν reached λ/(ρ̄·c); False when all servers were used without reaching
    it, in which case the servers of an unfinished last chain still host blocks, as in Alg. 1.
    """

    placement: dict[str, Span]
    chains: tuple[Chain, ...]
    service_rate: float
    target_met: bool


def _check_inputs(c: int, arrival_rate: float, target_load: float) -> None:
    if c < 1:
        raise ValueError(f"c must be >= 1, got {c}")
    if not arrival_rate >= 0:
        raise ValueError(f"arrival_rate must be >= 0, got {arrival_rate}")
    if not 0 < target_load < 1:
        raise ValueError(f"target_load must be in (0, 1), got {target_load}")


def gbp_cr_plan(
    servers: Iterable[ServerSpec] | Fleet,
    model: ModelSpec,
    c: int,
    arrival_rate: float,
    target_load: float = 0.7,
) -> GbpCrPlan:
    """Alg. 1 for reservation ``c`` and demand λ = ``arrival_rate`` (jobs/s), target load ρ̄.

    Raises :class:`InfeasiblePlacement` if Σ_j m_j(c) < L.
    """
    _check_inputs(c, arrival_rate, target_load)
    fleet = Fleet.of(servers)
    num_blocks = model.num_blocks
    counts = fleet.blocks_for_reservation(model, c)
    if int(counts.sum()) < num_blocks:
        raise InfeasiblePlacement(
            f"with c={c} the {len(fleet)} servers host {int(counts.sum())} blocks in all, "
            f"fewer than the model's {num_blocks}"
        )
    times = fleet.comm_time + fleet.block_time * counts
    usable = np.flatnonzero(counts > 0)
    per_block = times[usable] / counts[usable]
    order = usable[np.lexsort((usable, per_block))]  # by t̃_j(c), then by name (= index)

    target = arrival_rate / (target_load * c)
    placement: dict[str, Span] = {}
    chains: list[Chain] = []
    group: list[tuple[ServerSpec, int]] = []
    next_block, chain_time, rate = 0, 0.0, 0.0
    for j in order.tolist():
        server, m = fleet.servers[j], int(counts[j])
        start = min(next_block, num_blocks - m)
        placement[server.name] = Span(start, m)
        group.append((server, start + m - next_block))
        chain_time += float(times[j])
        next_block = min(next_block + m, num_blocks)
        if next_block < num_blocks:
            continue
        rate += 1.0 / chain_time if chain_time > 0 else math.inf
        chains.append(make_chain(group, capacity=c))
        if rate >= target:
            return GbpCrPlan(placement, tuple(chains), rate, target_met=True)
        group, next_block, chain_time = [], 0, 0.0
    return GbpCrPlan(placement, tuple(chains), rate, target_met=False)


def gbp_cr(
    servers: Iterable[ServerSpec] | Fleet,
    model: ModelSpec,
    c: int,
    arrival_rate: float,
    target_load: float = 0.7,
) -> dict[str, Span]:
    """The GBP-CR placement (paper Alg. 1): server name → 0-based span; servers that host nothing
    are absent. Raises :class:`InfeasiblePlacement` if Σ_j m_j(c) < L."""
    return gbp_cr_plan(servers, model, c, arrival_rate, target_load).placement
