"""Repair (DESIGN.md, "Decentralized placement"): the few moves that absorb a leave.

A leave opens a hole in one chain (or, in a swarm of one chain, uncovers blocks). GBP-CR's order
fills it with the next fastest server, which opens a hole in the next chain, and so on: the
sticky plan's full re-plan costs several reloads, and its short prefixes break chains that work.
The repair instead moves a *spare* server into the hole: one that no chain of GCA uses (while a
block is uncovered: one whose blocks others also host). Moving a spare costs one reload and
takes nothing from a working chain. The hole is where the fewest servers host a block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .gca import gca_iter
from .score import MOVE_COST, SwarmScore, swarm_score, uncovered_set
from .specs import ModelSpec, ServerSpec, Span
from .view import round_input, rounded_servers

REPAIR_MOVES = 3
"""At most this many servers move in one repair (a repair answers one leave)."""


def spare_servers(
    servers: Iterable[ServerSpec], placement: Mapping[str, Span], model: ModelSpec
) -> list[str]:
    """Placed servers that can move without taking anything from the swarm, by name: those no
    chain of GCA over ``placement`` uses; while a block is uncovered (no chain exists), those
    whose every block another server also hosts (none if they all together host fewer blocks
    than are missing: no repair can cover the model then)."""
    hosting = {n: s for n, s in placement.items() if s.count > 0}
    missing = uncovered_set(hosting, model)
    if missing:
        spare = [
            n
            for n in sorted(hosting)
            if uncovered_set({k: s for k, s in hosting.items() if k != n}, model) == missing
        ]
        return spare if sum(hosting[n].count for n in spare) >= len(missing) else []
    by_name = {s.name: s for s in servers}
    used = {
        n for chain in gca_iter([by_name[n] for n in sorted(hosting)], model, hosting) for n in chain.servers
    }
    return sorted(set(hosting) - used)


def hole_starts(placement: Mapping[str, Span], model: ModelSpec, count: int) -> list[int]:
    """Starts of ``count`` blocks that line up with either end of a run of the blocks that the
    fewest spans of ``placement`` host (the hole a leaver left), lowest first."""
    num_blocks = model.num_blocks
    hosts = [0] * num_blocks
    for span in placement.values():
        for block in range(max(span.start, 0), min(span.end, num_blocks)):
            hosts[block] += 1
    low = min(hosts)
    starts: set[int] = set()
    block = 0
    while block < num_blocks:
        if hosts[block] != low:
            block += 1
            continue
        end = block
        while end < num_blocks and hosts[end] == low:
            end += 1
        starts.update(max(0, min(x, num_blocks - count)) for x in (block, end - count))
        block = end
    return sorted(starts)


def repair_plan(
    servers: Iterable[ServerSpec], current: Mapping[str, Span], model: ModelSpec, arrival_rate: float
) -> dict[str, Span]:
    """Moves of spare servers (:func:`spare_servers`) into the hole (:func:`hole_starts`, with
    the mover's own blocks left out), one at a time, the best for the swarm's
    :class:`SwarmScore` each time, while each gains more than ``MOVE_COST`` and at most
    ``REPAIR_MOVES`` of them. Among spares of the same size only the fastest (smallest t̃_j, then
    name) is tried: a spare's blocks serve no chain, so where it was does not matter. Returns the
    movers' new spans (empty when no move pays)."""
    fleet = rounded_servers(servers)
    rate = round_input(arrival_rate)
    by_name = {s.name: s for s in fleet}
    placement = {n: s for n, s in current.items() if s.count > 0}
    score = swarm_score(fleet, model, placement, rate)
    plan: dict[str, Span] = {}
    for _ in range(REPAIR_MOVES):
        fastest: dict[int, tuple[float, str]] = {}
        for name in spare_servers(fleet, placement, model):
            m, spec = placement[name].count, by_name[name]
            fastest[m] = min(
                fastest.get(m, (float("inf"), name)), ((spec.comm_time + spec.block_time * m) / m, name)
            )
        best: tuple[SwarmScore, str, Span] | None = None
        for m, (_, name) in sorted(fastest.items()):
            others = {n: s for n, s in placement.items() if n != name}
            for start in hole_starts(others, model, m):
                span = Span(start, m)
                after = swarm_score(fleet, model, {**others, name: span}, rate)
                if span != placement[name] and (
                    best is None or (after, name, start) < (best[0], best[1], best[2].start)
                ):
                    best = (after, name, span)
        if best is None or not best[0].gain_over(score) > MOVE_COST:
            break
        score, name, span = best
        placement[name] = plan[name] = span
    return plan
