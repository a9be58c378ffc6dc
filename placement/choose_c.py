"""Choosing the reservation c (paper §3.5): a 1-D search over c = 1..c_max.

For each c: GBP-CR places blocks, GCA builds chains on that placement, and the objective is the
Theorem-4 *lower* bound on JFFC's mean response time at the given demand (the paper found it
picks the c that minimizes the simulated response time). c_max = ⌊(max_j M_j − s_m)/s_c⌋.
Ties go to the smaller c.

Pruning (exact, so the result equals the plain loop): every chain's service time is at least
LB(c) = L·min_j t̃_j(c), since hop j costs τ^c_j + τ^p_j·m_ij ≥ m_ij·t̃_j(c) when m_ij ≤ m_j(c); the
Theorem-4 lower bound is at least the fastest chain's service time; and t̃_j(c) only grows with c.
So once LB(c) exceeds the best objective so far, no larger c can win and the search stops.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .bounds import response_time_bounds
from .exact import cache_slots
from .fleet import Fleet
from .gbp_cr import InfeasiblePlacement, gbp_cr_plan
from .gca import gca
from .specs import Chain, ModelSpec, ServerSpec, Span

# Relative margin on the pruning test, far above the float error of either side.
_PRUNE_MARGIN = 1e-9


@dataclass(frozen=True)
class Reservation:
    """GBP-CR + GCA for one c and its objective: the Theorem-4 lower bound in seconds (inf when
    the chains cannot carry the demand)."""

    c: int
    placement: dict[str, Span]
    chains: list[Chain]
    lower_bound: float


def max_reservation(servers: Iterable[ServerSpec] | Fleet, model: ModelSpec) -> int:
    """c_max = ⌊(max_j M_j − s_m)/s_c⌋: the most jobs one block on the largest server can serve."""
    fleet = Fleet.of(servers)
    if not len(fleet):
        return 0
    largest = max(fleet.servers, key=lambda s: s.memory)
    return cache_slots(largest.memory, model, 1)


def evaluate_c(
    servers: Iterable[ServerSpec] | Fleet,
    model: ModelSpec,
    c: int,
    arrival_rate: float,
    target_load: float = 0.7,
) -> Reservation:
    """GBP-CR then GCA with reservation ``c``; raises :class:`InfeasiblePlacement` when the
    servers cannot host every block with this c."""
    fleet = Fleet.of(servers)
    placement = gbp_cr_plan(fleet, model, c, arrival_rate, target_load).placement
    chains = gca(fleet.servers, model, placement)
    lower, _ = response_time_bounds(chains, arrival_rate)
    return Reservation(c, placement, chains, lower)


def _service_time_floor(fleet: Fleet, model: ModelSpec, c: int) -> float:
    """LB(c) = L·min_j t̃_j(c) over servers with m_j(c) ≥ 1 (inf if none)."""
    counts = fleet.blocks_for_reservation(model, c)
    usable = counts > 0
    if not usable.any():
        return math.inf
    per_block = fleet.comm_time[usable] / counts[usable] + fleet.block_time[usable]
    return model.num_blocks * float(np.min(per_block))


def choose_c(
    servers: Iterable[ServerSpec] | Fleet,
    model: ModelSpec,
    arrival_rate: float,
    target_load: float = 0.7,
) -> tuple[int, dict[str, Span], list[Chain]]:
    """c* = argmin over c = 1..c_max of the Theorem-4 lower bound of GBP-CR(c) + GCA at demand
    λ = ``arrival_rate`` (jobs/s): returns (c*, its placement, its chains, fastest first).

    Raises :class:`InfeasiblePlacement` when no c both covers all blocks and keeps λ < ν.
    """
    fleet = Fleet.of(servers)
    best: Reservation | None = None
    c_max = max_reservation(fleet, model)
    for c in range(1, c_max + 1):
        if best is not None and _service_time_floor(fleet, model, c) > best.lower_bound * (1 + _PRUNE_MARGIN):
            break
        try:
            candidate = evaluate_c(fleet, model, c, arrival_rate, target_load)
        except InfeasiblePlacement:
            continue
        if math.isfinite(candidate.lower_bound) and (
            best is None or candidate.lower_bound < best.lower_bound
        ):
            best = candidate
    if best is None:
        raise InfeasiblePlacement(
            f"no reservation c in 1..{c_max} lets {len(fleet)} servers host all {model.num_blocks} "
            f"blocks with service rate above the arrival rate {arrival_rate}/s; add servers or "
            "memory, or lower the demand"
        )
    return best.c, best.placement, best.chains
