"""Where a joining node starts (DESIGN.md, "Decentralized placement"): its slot in the agreed
:func:`~.sticky.plan_target`, else the best response to everyone else fixed.
"""

from __future__ import annotations

import math

from .reservation import num_blocks_for
from .score import SwarmScore, swarm_score
from .specs import ModelSpec, ServerSpec, Span
from .sticky import plan_target, sticky_plan
from .view import View, round_input, rounded_servers

BEST_RESPONSE_TOLERANCE = 0.005
"""Starts whose bound is within 0.5% of the best count as equal; the plan's hint breaks the tie."""


def best_response(
    me: ServerSpec,
    count: int,
    others: View,
    model: ModelSpec,
    arrival_rate: float,
    tolerance: float = 0.0,
    hint: int | None = None,
) -> Span:
    """The start of ``count`` blocks that gives the swarm the best :class:`SwarmScore` with every
    other node fixed (uncovered blocks first). Starts within ``tolerance`` (relative) of the best
    tie; ties go to the start nearest ``hint``, then the lowest. Only starts that line up with a
    span boundary of another node (or the model's ends) are tried: GCA's chains switch servers
    only at span ends, so an unaligned start adds nothing an aligned one lacks.
    """
    num_blocks = model.num_blocks
    count = min(count, num_blocks)
    fleet = rounded_servers([me, *(spec for spec, _ in others.values())])
    rate = round_input(arrival_rate)
    spans = {n: s for n, (_, s) in others.items() if s.count > 0}
    starts = {0, num_blocks - count}
    for s in spans.values():
        starts.update((s.end, s.end - count, s.start, s.start - count))
    if hint is not None:
        starts.add(hint)
    candidates = sorted(x for x in starts if 0 <= x <= num_blocks - count)
    scored: list[tuple[SwarmScore, int]] = []
    cutoff: float | None = None
    for x in sorted(candidates, key=lambda x: (abs(x - hint) if hint is not None else 0, x)):
        score = swarm_score(fleet, model, {**spans, me.name: Span(x, count)}, rate, cutoff)
        scored.append((score, x))
        if not (score.uncovered or score.overloaded):
            bound = score.value * (1 + tolerance)
            cutoff = bound if cutoff is None else min(cutoff, bound)
    top = min(score for score, _ in scored)
    tied = [
        x for score, x in scored if score == top or (not top.uncovered and _within(score, top, tolerance))
    ]
    return Span(min(tied, key=lambda x: (abs(x - hint) if hint is not None else 0, x)), count)


def _within(score: SwarmScore, top: SwarmScore, tolerance: float) -> bool:
    return score.overloaded == top.overloaded and -score.gain_over(top) <= tolerance


def choose_start(
    me: ServerSpec,
    others: View,
    model: ModelSpec,
    c: int,
    arrival_rate: float,
    target_load: float = 0.7,
) -> Span:
    """Where a joining node places its m_j(c) blocks: its slot in the agreed :func:`plan_target`
    (computed with this node included); if the plan has no slot for it, its
    :func:`best_response` with ties broken toward its slot in the sticky plan run to the end.
    ``Span(0, 0)`` if its memory cannot hold one block with cache for c jobs.
    """
    count = num_blocks_for(me, model, c)
    if count == 0:
        return Span(0, 0)
    current = {n: s for n, (_, s) in others.items() if n != me.name}
    servers = [me, *(spec for n, (spec, _) in others.items() if n != me.name)]
    target = plan_target(servers, current, model, c, arrival_rate, target_load)
    if me.name in target.placement:
        return target.placement[me.name]
    everyone = sticky_plan(servers, current, model, c, math.inf, target_load)[-1]
    hint = everyone[me.name].start if me.name in everyone else None
    fixed = {n: v for n, v in others.items() if n != me.name}
    return best_response(me, count, fixed, model, arrival_rate, BEST_RESPONSE_TOLERANCE, hint)
