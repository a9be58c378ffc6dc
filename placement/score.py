"""How the decentralized rules compare placements (DESIGN.md, "Decentralized placement").

Every rule scores a placement the same way (:func:`swarm_score`): first the number of blocks no
server hosts, then whether GCA's chains can carry the demand (λ < ν), then the Theorem-4 lower
bound on JFFC's mean response time (paper §3.4), or −ν while overloaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .bounds import response_time_bounds
from .exact import cache_slots
from .gca import gca_iter
from .specs import Chain, ModelSpec, ServerSpec, Span

MOVE_COST = 0.01
"""Switching cost: a plan that makes k servers load blocks must beat staying put by about k%
(paper §3.6's δ·ω(placement change)); every rule that weighs reloads against the bound uses it."""


@dataclass(frozen=True, order=True)
class SwarmScore:
    """How good a placement is; smaller is better in the order of the fields.

    ``uncovered``: blocks no server hosts. ``overloaded``: λ ≥ ν for GCA's chains. ``value``: the
    Theorem-4 lower bound in seconds if stable, −ν in jobs/s if overloaded, 0 if uncovered.
    """

    uncovered: int
    overloaded: bool
    value: float

    def gain_over(self, old: SwarmScore) -> float:
        """Relative improvement of this score over ``old`` (inf for a step up in kind: covering
        more blocks, or becoming stable; negative when worse)."""
        if (self.uncovered, self.overloaded) != (old.uncovered, old.overloaded):
            return (
                math.inf if (self.uncovered, self.overloaded) < (old.uncovered, old.overloaded) else -math.inf
            )
        if self.uncovered:
            return 0.0
        return (old.value - self.value) / abs(old.value) if old.value else 0.0


def uncovered_set(placement: Mapping[str, Span], model: ModelSpec) -> set[int]:
    """Blocks 0..L-1 that no span hosts."""
    covered = [False] * model.num_blocks
    for span in placement.values():
        for block in range(max(span.start, 0), min(span.end, model.num_blocks)):
            covered[block] = True
    return {b for b, hosted in enumerate(covered) if not hosted}


def uncovered_blocks(placement: Mapping[str, Span], model: ModelSpec) -> int:
    """How many blocks no span hosts."""
    return len(uncovered_set(placement, model))


def swarm_score(
    servers: Iterable[ServerSpec],
    model: ModelSpec,
    placement: Mapping[str, Span],
    arrival_rate: float,
    cutoff: float | None = None,
) -> SwarmScore:
    """Score of ``placement`` (see :class:`SwarmScore`): GCA's chains and their Theorem-4 lower
    bound. With ``cutoff`` (seconds), GCA stops as soon as the bound provably exceeds it, and
    the value returned is then only a lower bound on the true one, itself above ``cutoff``: the
    chains still to come are no faster than the last one and hold at most the free slots / L
    jobs, so adding them at that speed can only lower the bound (as in ``choose_c``)."""
    hosting = {n: s for n, s in placement.items() if s.count > 0}
    missing = uncovered_blocks(hosting, model)
    if missing:
        return SwarmScore(missing, False, 0.0)
    by_name = {s.name: s for s in servers}
    free_slots = sum(cache_slots(by_name[n].memory, model, s.count) for n, s in hosting.items())
    chains: list[Chain] = []
    for chain in gca_iter([by_name[n] for n in sorted(hosting)], model, hosting):
        chains.append(chain)
        free_slots -= chain.capacity * model.num_blocks
        if cutoff is not None:
            rest = Chain((), (), chain.service_time, max(free_slots, 0) // model.num_blocks)
            optimistic, _ = response_time_bounds([*chains, rest], arrival_rate)
            if optimistic > cutoff:
                return SwarmScore(0, False, optimistic)
    lower, _ = response_time_bounds(chains, arrival_rate)
    if math.isfinite(lower):
        return SwarmScore(0, False, lower)
    return SwarmScore(0, True, -sum(ch.capacity * ch.rate for ch in chains))
