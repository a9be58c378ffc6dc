"""Choosing the reservation c (paper §3.5): a 1-D search over c = 1..c_max.

For each c: GBP-CR places blocks, GCA builds chains on that placement, and the objective is the
Theorem-4 *lower* bound on JFFC's mean response time at the given demand (the paper found it
picks the c that minimizes the simulated response time). c_max = ⌊(max_j M_j − s_m)/s_c⌋.
Ties go to the smaller c.

Two prunings, both exact, so the result equals the plain loop (tests check it):

- Stop: every chain's service time is at least LB(c) = L·min_j t̃_j(c), since hop j costs
  τ^c_j + τ^p_j·m_ij ≥ m_ij·t̃_j(c) when m_ij ≤ m_j(c); the Theorem-4 lower bound is at least the
  fastest chain's service time; and t̃_j(c) only grows with c. Once LB(c) exceeds the best
  objective so far, no larger c can win.
- Skip: GCA runs lazily and a c is dropped as soon as an optimistic bound on its objective
  (see :func:`_evaluate`) exceeds the best so far.
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
from .gca import gca_iter
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
    outcome = _evaluate(Fleet.of(servers), model, c, arrival_rate, target_load, cutoff=None)
    assert outcome is not None, "nothing is pruned without a cutoff"
    return outcome


def _evaluate(
    fleet: Fleet, model: ModelSpec, c: int, arrival_rate: float, target_load: float, cutoff: float | None
) -> Reservation | None:
    """:func:`evaluate_c`, but None as soon as the objective provably exceeds ``cutoff`` or is
    infinite (never, if ``cutoff`` is None).

    After k GCA chains, the rest are no faster than the k-th (each round searches a smaller
    graph) and hold at most ⌊(slots left)/L⌋ jobs in all (a job on a chain takes L slots). The
    lower bound of the k chains plus that many jobs at the k-th chain's speed is at most the
    final objective: every n-th fastest job slot is at least as fast, so every death rate is
    at least as high.
    """
    placement = gbp_cr_plan(fleet, model, c, arrival_rate, target_load).placement
    by_name = {s.name: s for s in fleet.servers}
    free_slots = sum(cache_slots(by_name[n].memory, model, span.count) for n, span in placement.items())
    chains: list[Chain] = []
    for chain in gca_iter(fleet.servers, model, placement):
        chains.append(chain)
        free_slots -= chain.capacity * model.num_blocks
        if cutoff is not None and _is_checkpoint(len(chains)):
            rest = Chain((), (), chain.service_time, free_slots // model.num_blocks)
            optimistic, _ = response_time_bounds([*chains, rest], arrival_rate)
            if optimistic > cutoff or math.isinf(optimistic):
                return None
    lower, _ = response_time_bounds(chains, arrival_rate)
    return Reservation(c, placement, chains, lower)


def _is_checkpoint(num_chains: int) -> bool:
    """Bound after each of the first 32 chains, then every 8: cheap next to GCA rounds."""
    return num_chains <= 32 or num_chains % 8 == 0


def _service_time_floor(fleet: Fleet, model: ModelSpec, c: int) -> float:
    """LB(c) = L·min_j t̃_j(c) over servers with m_j(c) ≥ 1 (inf if none)."""
    counts = fleet.blocks_for_reservation(model, c)
    usable = counts > 0
    if not usable.any():
        return math.inf
    per_block = fleet.comm_time[usable] / counts[usable] + fleet.block_time[usable]
    return model.num_blocks * float(np.min(per_block))


def _powers_of_two(limit: int) -> list[int]:
    return [1 << i for i in range(limit.bit_length()) if 1 << i <= limit]


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
    c_max = max_reservation(fleet, model)
    best: Reservation | None = None
    seen: set[int] = set()

    def consider(c: int) -> bool:
        """Evaluate c unless pruned; False once c and every larger c are out of the running."""
        nonlocal best
        if best is not None:
            if _service_time_floor(fleet, model, c) > best.lower_bound * (1 + _PRUNE_MARGIN):
                return False
        seen.add(c)
        cutoff = math.inf if best is None else best.lower_bound * (1 + _PRUNE_MARGIN)
        try:
            candidate = _evaluate(fleet, model, c, arrival_rate, target_load, cutoff)
        except InfeasiblePlacement:
            return True
        if candidate is None or not math.isfinite(candidate.lower_bound):
            return True
        key = (candidate.lower_bound, candidate.c)
        if best is None or key < (best.lower_bound, best.c):
            best = candidate
        return True

    # A coarse pass first (c = 1, 2, 4, ...) finds a good objective early, so that the full
    # pass prunes most c after a few GCA rounds; the answer is the same as in plain order.
    for c in _powers_of_two(c_max):
        if not consider(c):
            break
    for c in range(1, c_max + 1):
        if c not in seen and not consider(c):
            break
    if best is None:
        raise InfeasiblePlacement(
            f"no reservation c in 1..{c_max} lets {len(fleet)} servers host all {model.num_blocks} "
            f"blocks with service rate above the arrival rate {arrival_rate}/s; add servers or "
            "memory, or lower the demand"
        )
    return best.c, best.placement, best.chains
