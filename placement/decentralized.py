"""The node's own placement rules (DESIGN.md, "Decentralized placement"): pure functions of the
swarm as one node reads it, so that nodes with the same view reach the same answer.

Every rule scores a placement the same way (:func:`swarm_score`): first the number of blocks no
server hosts, then whether GCA's chains can carry the demand (λ < ν), then the Theorem-4 lower
bound on JFFC's mean response time (paper §3.4), or −ν while overloaded.

The start rule is a *sticky* GBP-CR. Servers are laid into chains fastest first as in Alg. 1,
but servers whose amortized time per block t̃_j(c) lies within ``ORDER_BAND`` of the fastest one
left are interchangeable, and among those the greedy takes one that already hosts the next slot.
The plan so built differs from the current placement in few servers. Of its prefixes (first k
chains, the rest of the swarm left where it is) the rule adopts the one with the best score after
a switching cost of ``MOVE_COST`` per server that must load blocks (paper §3.6's
Ω(c) + δ·ω(placement change)). A joining node takes its slot in that plan, or, if the plan has
none for it, the start that is best for the swarm with everyone else fixed (best response).

Why not plain best response: one server's move rarely completes a new chain, so a swarm in which
no single move helps can sit far from GBP-CR (measured in ``bench/decentralized.py``). Why not
"everyone takes the recomputed global plan": a new server shifts everyone after it in GBP-CR's
order, so most servers would reload on every join.

Reproducibility: inputs are rounded (``_rounded``) and every tie is broken by server name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .bounds import response_time_bounds
from .choose_c import choose_c, evaluate_c, max_reservation
from .exact import blocks_for_reservation, cache_slots
from .gbp_cr import InfeasiblePlacement
from .gca import gca_iter
from .specs import Chain, ModelSpec, ServerSpec, Span

View = Mapping[str, tuple[ServerSpec, Span]]
"""Other nodes (online and joining) as the caller read them: name → (server, its span)."""

ORDER_BAND = 0.05
"""Servers whose t̃_j(c) is within 5% of the fastest remaining one may take its slot in the
sticky plan; within the paper's GPU classes that spread comes from τ^c, worth little next to τ^p."""

MOVE_COST = 0.01
"""Switching cost: a plan that makes k servers load blocks must beat staying put by about k%."""

RESERVATION_HYSTERESIS = 0.02
"""The swarm keeps its reservation c unless the best c lowers the bound by more than 2%: servers
sized for another c reload to follow it (as far as :func:`plan_target` finds it pays)."""

BEST_RESPONSE_TOLERANCE = 0.005
"""Starts whose bound is within 0.5% of the best count as equal; the plan's hint breaks the tie."""

_SIGNIFICANT_DIGITS = 6
_MAX_PROJECTION = 64


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


def _round(x: float) -> float:
    return float(f"{x:.{_SIGNIFICANT_DIGITS}g}")


def _rounded(servers: Iterable[ServerSpec]) -> list[ServerSpec]:
    """Name-sorted servers with times rounded to 6 significant digits, so that float noise in two
    nodes' reads of the same records cannot change a decision."""
    return [
        ServerSpec(s.name, s.memory, _round(s.comm_time), _round(s.block_time))
        for s in sorted(servers, key=lambda s: s.name)
    ]


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
    fleet = _rounded(servers)
    if not fleet:
        raise ValueError("choose_reservation needs at least one server")
    rate = _round(arrival_rate)
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


def blocks_to_load(old: Span | None, new: Span) -> int:
    """Blocks of ``new`` that ``old`` does not hold (all of them for a server not yet placed)."""
    if old is None:
        return new.count
    overlap = max(0, min(old.end, new.end) - max(old.start, new.start))
    return new.count - overlap


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
    for s in _rounded(servers):
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
    of :func:`sticky_plan` by moves that :func:`may_move` allows, whichever scores best once each
    reload is charged ``MOVE_COST`` (on the bound, or on ν while overloaded); ties go to fewer
    reloads, then the shorter prefix. Plans come in two kinds: every server resized to m_j(c),
    and placed servers keeping their sizes (after a change of c the swarm then migrates only
    as far as it pays). A plan that would still leave a block uncovered reloads no placed
    server: such a swarm serves nothing yet, and its layout changes again as nodes arrive.
    ``current`` holds the placed servers; ``servers`` may include unplaced ones (a joining
    node), which the plan may place at no charge.
    """
    fleet = _rounded(servers)
    rate = _round(arrival_rate)
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


def keeps_coverage(placement: Mapping[str, Span], name: str, new: Span, model: ModelSpec) -> bool:
    """Whether every block hosted now is still hosted after ``name`` moves to ``new`` (a node not
    yet placed only adds blocks)."""
    return uncovered_set({**placement, name: new}, model) <= uncovered_set(placement, model)


def may_move(
    placement: Mapping[str, Span],
    name: str,
    new: Span,
    model: ModelSpec,
    pending: Iterable[tuple[str, Span]],
    repairing: bool,
) -> bool:
    """Whether ``name`` may move to ``new`` now. A move may not leave uncovered a block that is
    hosted now, with one exception: a swarm that already misses a block (it serves nothing) on
    its way to a plan that covers every block (``repairing``) may open another gap, but only
    when none of the other ``pending`` moves is gap-free, so no gap opens while a gap-free step
    exists."""
    if keeps_coverage(placement, name, new, model):
        return True
    return repairing and not any(keeps_coverage(placement, n, s, model) for n, s in pending if n != name)


def reachable(base: Mapping[str, Span], plan: Mapping[str, Span], model: ModelSpec) -> dict[str, Span]:
    """Where the swarm ends up moving from ``base`` toward ``base`` updated by ``plan``, one
    allowed move at a time (:func:`may_move`; the first allowed by name each step) until every
    move is made or none is allowed."""
    state = dict(base)
    pending = sorted((n, s) for n, s in plan.items() if state.get(n) != s)
    covers = not uncovered_set({**base, **plan}, model)
    while pending:
        repairing = covers and bool(uncovered_set(state, model))
        for i, (name, span) in enumerate(pending):
            if may_move(state, name, span, model, pending, repairing):
                state[name] = span
                del pending[i]
                break
        else:
            break
    return state


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
    fleet = _rounded([me, *(spec for spec, _ in others.values())])
    rate = _round(arrival_rate)
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
