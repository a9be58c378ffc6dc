"""The swarm's agreed target placement: a *sticky* GBP-CR (DESIGN.md, "Decentralized placement").
Pure functions of the swarm as one node reads it, so that nodes with the same view reach the same
answer.

Servers are laid into chains fastest first as in Alg. 1, but servers whose amortized time per
block t̃_j(c) lies within ``ORDER_BAND`` of the fastest one left are interchangeable, and among
those the greedy takes one that already hosts the next slot; each chain's members are then laid
in the order that keeps the most of them in place (:func:`tile_chain`). The plan so built differs
from the current placement in few servers. Of its prefixes (first k chains, the rest of the swarm
left where it is) and the :func:`~.repair.repair_plan` (spare servers into the hole a leaver left),
the rule adopts the one with the best score after a switching cost of ``MOVE_COST`` per server
that must load blocks (paper §3.6's Ω(c) + δ·ω(placement change)). A joining node takes its
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
from .repair import repair_plan
from .score import MOVE_COST, SwarmScore, swarm_score
from .specs import ModelSpec, ServerSpec, Span
from .view import round_input, rounded_servers

ORDER_BAND = 0.05
"""Servers whose t̃_j(c) is within 5% of the fastest remaining one may take its slot in the
sticky plan; within the paper's GPU classes that spread comes from τ^c, worth little next to τ^p."""


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
    chain's later slots, nearest the slot; then by t̃ and name. A completed (or the last,
    unfinished) chain is then laid out by :func:`tile_chain`.
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
    members: list[tuple[str, int]] = []
    next_block, chain_time, rate = 0, 0.0, 0.0
    while order:
        band = [x for x in order if x[0] <= order[0][0] * (1 + ORDER_BAND)]
        pick = min(band, key=lambda x: _stickiness(current.get(x[1]), x[2], next_block, num_blocks))
        order.remove(pick)
        _, name, m, t = pick
        members.append((name, m))
        chain_time += t
        next_block = min(next_block + m, num_blocks)
        if next_block < num_blocks:
            continue
        plan.update(tile_chain(members, current, num_blocks))
        plans.append(dict(plan))
        rate += 1.0 / chain_time if chain_time > 0 else math.inf
        if rate >= target:
            return plans
        members, next_block, chain_time = [], 0, 0.0
    plan.update(tile_chain(members, current, num_blocks))
    if not plans or plans[-1] != plan:
        plans.append(dict(plan))
    return plans


def tile_chain(
    members: list[tuple[str, int]], current: Mapping[str, Span], num_blocks: int
) -> dict[str, Span]:
    """Spans for one chain's ``members`` (name, m_j), laid end to end from block 0 (a member past
    block L - m_j ends at L), in the order that keeps the most members in place.

    A chain's service time is the sum of its members' times whatever their order, so the order
    is free: each slot goes to a member already hosting it if there is one, else to the member
    whose absence leaves the rest the most slots to keep (a plain greedy count; an unplaced
    member first, then the fewest blocks to load, then GBP-CR's order). Without this a leave
    in the middle of a chain shifts every later member by one span."""
    spans: dict[str, Span] = {}
    rest = list(members)
    block = 0
    while rest:
        pick = _in_place(rest, current, block, num_blocks)
        if pick is None:
            pick = max(
                rest,
                key=lambda x: (
                    _kept([y for y in rest if y != x], current, block + x[1], num_blocks),
                    x[0] not in current,
                    -blocks_to_load(current[x[0]], _slot(block, x[1], num_blocks)) if x[0] in current else 0,
                    -rest.index(x),
                ),
            )
        rest.remove(pick)
        spans[pick[0]] = _slot(block, pick[1], num_blocks)
        block += pick[1]
    return spans


def _slot(block: int, m: int, num_blocks: int) -> Span:
    return Span(max(0, min(block, num_blocks - m)), m)


def _in_place(
    rest: list[tuple[str, int]], current: Mapping[str, Span], block: int, num_blocks: int
) -> tuple[str, int] | None:
    """The first of ``rest`` whose current span holds the slot at ``block``, if any."""
    for name, m in rest:
        span, slot = current.get(name), _slot(block, m, num_blocks)
        if span is not None and span.start <= slot.start and slot.end <= span.end:
            return name, m
    return None


def _kept(rest: list[tuple[str, int]], current: Mapping[str, Span], block: int, num_blocks: int) -> int:
    """How many of ``rest`` a plain greedy tiling from ``block`` keeps in place."""
    rest, kept = list(rest), 0
    while rest:
        pick = _in_place(rest, current, block, num_blocks)
        kept += pick is not None
        pick = pick or rest[0]
        rest.remove(pick)
        block += pick[1]
    return kept


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
    reloads, then the shorter prefix. Plans come in three kinds: every server resized to m_j(c),
    placed servers keeping their sizes (after a change of c the swarm then migrates only
    as far as it pays), and the repair (:func:`~.repair.repair_plan`). A plan that would still leave a block uncovered reloads no placed
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
    plans.append(repair_plan(fleet, base, model, rate))
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
