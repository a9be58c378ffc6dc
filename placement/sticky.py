"""The swarm's agreed target placement: a *sticky* GBP-CR (DESIGN.md, "Decentralized placement").
Pure functions of the swarm as one node reads it, so that nodes with the same view reach the same
answer.

Servers are laid into chains fastest first as in Alg. 1, but servers whose amortized time per
block t̃_j(c) lies within ``ORDER_BAND`` of the fastest one left are interchangeable, and among
those the greedy takes one that already hosts the next slot. The plan so built differs from the
current placement in few servers. Of its prefixes (first k chains, the rest of the swarm left where
it is) the rule adopts the one with the best score after a switching cost of ``MOVE_COST`` per
server that must load blocks (paper §3.6's Ω(c) + δ·ω(placement change)). A joining node takes its
slot in that plan, or, if the plan has none for it, the start that is best for the swarm with
everyone else fixed (best response; both in :mod:`~.start`).

Why not plain best response: one server's move rarely completes a new chain, so a swarm in which
no single move helps can sit far from GBP-CR (measured in ``bench/decentralized.py``). Why not
"everyone takes the recomputed global plan": a new server shifts everyone after it in GBP-CR's
order, so most servers would reload on every join.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .exact import blocks_for_reservation
from .moves import blocks_to_load, reachable
from .score import SwarmScore, swarm_score
from .specs import ModelSpec, ServerSpec, Span
from .view import round_input, rounded_servers

ORDER_BAND = 0.05
"""Servers whose t̃_j(c) is within 5% of the fastest remaining one may take its slot in the
sticky plan; within the paper's GPU classes that spread comes from τ^c, worth little next to τ^p."""

MOVE_COST = 0.01
"""Switching cost: a plan that makes k servers load blocks must beat staying put by about k%."""


@dataclass(frozen=True)
class Target:
    """A placement the swarm should move to, as every node computes it from the same view.

    ``placement``: every placed server's span afterwards (servers the plan leaves alone keep theirs).
    ``movers``: servers whose span changes, by name. ``reloads``: those among them that must load
    blocks they do not hold (a server that only shrinks keeps its weights). ``score``: of
    ``placement``.
    """

    placement: dict[str, Span]
    movers: tuple[str, ...]
    reloads: tuple[str, ...]
    score: SwarmScore


def sticky_plan(
    servers: Iterable[ServerSpec],
    current: Mapping[str, Span],
    model: ModelSpec,
    c: int,
    arrival_rate: float,
    target_load: float = 0.7,
    counts: Mapping[str, int] | None = None,
) -> list[dict[str, Span]]:
    """GBP-CR (paper Alg. 1) with reservation ``c`` that prefers servers already in place; returns
    the plan after each completed chain (the last entry ends with an unfinished chain when the
    servers cannot reach the target rate λ/(ρ̄·c)). Servers host m_j(c) blocks, or the number
    ``counts`` gives for them (a server keeping the size it has).

    Each step takes, among the servers whose t̃_j(c) is within ``ORDER_BAND`` of the fastest one
    left, one whose current span contains the next slot; failing that, one not yet placed (a
    joining node fills a gap without moving anyone); then one whose span contains none of this
    chain's later slots, nearest the slot; then by t̃ and name.
    """
    num_blocks = model.num_blocks
    order: list[tuple[float, str, int, float]] = []  # (t̃_j, name, m_j, t_j)
    for s in rounded_servers(servers):
        m = counts[s.name] if counts and s.name in counts else blocks_for_reservation(s.memory, model, c)
        if m > 0:
            t = s.comm_time + s.block_time * m
            order.append((t / m, s.name, m, t))
    order.sort()
    target = arrival_rate / (target_load * c)
    plans: list[dict[str, Span]] = []
    plan: dict[str, Span] = {}
    next_block, chain_time, rate = 0, 0.0, 0.0
    while order:
        band = [x for x in order if x[0] <= order[0][0] * (1 + ORDER_BAND)]
        pick = min(band, key=lambda x: _stickiness(current.get(x[1]), x[2], next_block, num_blocks))
        order.remove(pick)
        _, name, m, t = pick
        plan[name] = Span(min(next_block, num_blocks - m), m)
        chain_time += t
        next_block = min(next_block + m, num_blocks)
        if next_block < num_blocks:
            continue
        plans.append(dict(plan))
        rate += 1.0 / chain_time if chain_time > 0 else math.inf
        if rate >= target:
            return plans
        next_block, chain_time = 0, 0.0
    if not plans or plans[-1] != plan:
        plans.append(dict(plan))
    return plans


def _stickiness(span: Span | None, m: int, next_block: int, num_blocks: int) -> tuple[int, int]:
    """Sort key of a candidate for the slot at ``next_block``: in place first; then a server not
    yet placed (it loads blocks anyway, so taking the slot costs no reload); then placed servers
    that no later slot of this chain would keep, nearest first; last, those a later slot keeps."""
    start = min(next_block, num_blocks - m)
    if span is None:
        return (1, 0)
    if span.start <= start and start + m <= span.end:
        return (0, 0)
    later = {min(b, num_blocks - m) for b in range(next_block + m, num_blocks, m)}
    keeps_later = any(span.start <= b and b + m <= span.end for b in later)
    return (2 + int(keeps_later), abs(span.start - start))


def plan_target(
    servers: Iterable[ServerSpec],
    current: Mapping[str, Span],
    model: ModelSpec,
    c: int,
    arrival_rate: float,
    target_load: float = 0.7,
) -> Target:
    """The target every node agrees on: staying put, or how far the swarm gets toward one prefix
    of :func:`sticky_plan` by moves that :func:`~.moves.may_move` allows, whichever scores best once each
    reload is charged ``MOVE_COST`` (on the bound, or on ν while overloaded); ties go to fewer
    reloads, then the shorter prefix. Plans come in two kinds: every server resized to m_j(c),
    and placed servers keeping their sizes (after a change of c the swarm then migrates only
    as far as it pays). A plan that would still leave a block uncovered reloads no placed
    server: such a swarm serves nothing yet, and its layout changes again as nodes arrive.
    ``current`` holds the placed servers; ``servers`` may include unplaced ones (a joining
    node), which the plan may place at no charge.
    """
    fleet = rounded_servers(servers)
    rate = round_input(arrival_rate)
    base = {n: s for n, s in current.items() if s.count > 0}
    by_name = {s.name: s for s in fleet}
    kept = {n: s.count for n, s in base.items()}
    plans = [{}, *sticky_plan(fleet, base, model, c, rate, target_load)]
    if any(s.count != blocks_for_reservation(by_name[n].memory, model, c) for n, s in base.items()):
        plans += sticky_plan(fleet, base, model, c, rate, target_load, counts=kept)
    best: tuple[tuple[int, bool, float, int], Target] | None = None
    for plan in plans:
        placement = reachable(base, plan, model)
        movers = tuple(sorted(n for n, s in placement.items() if base.get(n) != s))
        reloads = tuple(n for n in movers if n in base and blocks_to_load(base[n], placement[n]) > 0)
        score = swarm_score(fleet, model, placement, rate)
        if score.uncovered and reloads:
            continue
        charge = 1 + MOVE_COST * len(reloads)
        charged = score.value * charge if score.value >= 0 else score.value / charge
        key = (score.uncovered, score.overloaded, charged, len(reloads))
        if best is None or key < best[0]:
            best = (key, Target(placement, movers, reloads, score))
    assert best is not None, "staying put is always a candidate"
    return best[1]
