"""The swarm's reservation c* as each node computes it (paper §3.5, Eq.6): the c the swarm runs
with now, the c it should run with, and the m_j(c) blocks a node hosts under it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from .bounds import response_time_bounds
from .choose_c import choose_c, evaluate_c, max_reservation
from .exact import blocks_for_reservation
from .gbp_cr import InfeasiblePlacement
from .specs import ModelSpec, ServerSpec
from .view import round_input, rounded_servers

RESERVATION_HYSTERESIS = 0.02
"""The swarm keeps its reservation c unless the best c lowers the bound by more than 2%: servers
sized for another c reload to follow it (as far as :func:`~.sticky.plan_target` finds it pays)."""

_MAX_PROJECTION = 64


def num_blocks_for(me: ServerSpec, model: ModelSpec, c: int) -> int:
    """m_j(c*) = min(⌊M_j/(s_m + s_c·c*)⌋, L), the cache-reservation rule (paper Eq.6)."""
    return blocks_for_reservation(me.memory, model, c)


def swarm_reservation(in_use: Iterable[int]) -> int | None:
    """The c the swarm runs with now: the most common announced c ≥ 1 (larger c on a tie), or
    None when no node announces one."""
    counts: dict[int, int] = {}
    for c in in_use:
        if c >= 1:
            counts[c] = counts.get(c, 0) + 1
    return max(counts, key=lambda c: (counts[c], c)) if counts else None


def choose_reservation(
    servers: Iterable[ServerSpec],
    model: ModelSpec,
    arrival_rate: float,
    target_load: float = 0.7,
    current: int | None = None,
) -> int:
    """c* for ``servers`` (the online and joining nodes, the caller included), paper §3.5.

    c* = argmin over c of the Theorem-4 lower bound of GBP-CR(c) + GCA. With ``current`` (the
    swarm's c now, see :func:`swarm_reservation`), c* replaces it only if it lowers the bound by
    more than ``RESERVATION_HYSTERESIS``. When no c is stable (too few servers yet, or too much
    demand), the swarm keeps ``current``: a node that sized its cache for another c would have to
    reload to fit a new one, and a swarm that barely covers the model cannot move any node
    without leaving blocks uncovered. Without ``current``:

    - if some c lets the servers cover every block, the c that maximizes ν (serve as much as the
      overloaded swarm can);
    - otherwise c* of a projected swarm, the same servers repeated until c* exists (a young swarm
      is likely to grow with nodes like its first).
    """
    fleet = rounded_servers(servers)
    if not fleet:
        raise ValueError("choose_reservation needs at least one server")
    rate = round_input(arrival_rate)
    try:
        best, _, chains = choose_c(fleet, model, rate, target_load)
    except InfeasiblePlacement:
        return _fallback_reservation(fleet, model, rate, target_load, current)
    if current is None or current == best:
        return best
    best_bound, _ = response_time_bounds(chains, rate)
    kept = _lower_bound(fleet, model, current, rate, target_load)
    return current if kept <= best_bound * (1 + RESERVATION_HYSTERESIS) else best


def _lower_bound(
    fleet: Sequence[ServerSpec], model: ModelSpec, c: int, rate: float, target_load: float
) -> float:
    try:
        return evaluate_c(fleet, model, c, rate, target_load).lower_bound
    except InfeasiblePlacement:
        return math.inf


def _service_rate(
    fleet: Sequence[ServerSpec], model: ModelSpec, c: int, rate: float, target_load: float
) -> float:
    try:
        chains = evaluate_c(fleet, model, c, rate, target_load).chains
    except InfeasiblePlacement:
        return 0.0
    return sum(ch.capacity * ch.rate for ch in chains)


def _fallback_reservation(
    fleet: Sequence[ServerSpec], model: ModelSpec, rate: float, target_load: float, current: int | None
) -> int:
    """:func:`choose_reservation` when no c is stable (see there)."""
    if current is not None:
        return current
    covering = [
        c
        for c in range(1, max_reservation(fleet, model) + 1)
        if sum(blocks_for_reservation(s.memory, model, c) for s in fleet) >= model.num_blocks
    ]
    if covering:
        return max(covering, key=lambda c: (_service_rate(fleet, model, c, rate, target_load), -c))
    if all(blocks_for_reservation(s.memory, model, 1) == 0 for s in fleet):
        return 1
    for copies in range(2, _MAX_PROJECTION + 1):
        projected = [
            ServerSpec(f"{s.name}#{k}", s.memory, s.comm_time, s.block_time)
            for s in fleet
            for k in range(copies)
        ]
        try:
            return choose_c(projected, model, rate, target_load)[0]
        except InfeasiblePlacement:
            continue
    return 1
