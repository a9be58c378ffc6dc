"""Churn: servers join one by one, each placing itself by a decentralized start strategy, the swarm
rebalances after every event, then some servers leave. Compares the strategies of DESIGN.md
(Decentralized placement, item 5) with the centralized plan (choose_c → GBP-CR → GCA).

Time runs in rebalancing *rounds*: every node checks once per round in random order, steps its
own :class:`~chainswarm.placement.rebalance.Rebalancer`, and the first to ask for the moving
lease in a round gets it and moves (one mover per round). An event settles when a round passes
in which no node wants to move, or after ``max_rounds``.

Strategies:

- ``global``: a joining node takes its slot in the global GBP-CR plan at c* of the current view
  (best response if the plan leaves it out); after every event each node whose slot in the
  recomputed plan changed moves there at once ("everyone moves to the global plan").
- ``best-response``: a joining node takes the start that gives the best swarm score with the others
  fixed (uncovered blocks first, lowest start on ties); rebalancing proposes each node's best
  response, with the same hysteresis, confirmation and lease as the final rule.
- ``sticky``: the final rule, :func:`~chainswarm.placement.start.choose_start` and
  :func:`~chainswarm.placement.rebalance.evaluate_move`.

``best-response`` and ``sticky`` share the reservation rule (c* with hysteresis against the c the
swarm announces); ``global`` uses c* of the view, as the centralized planner would.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chainswarm.placement.bounds import response_time_bounds
from chainswarm.placement.choose_c import choose_c
from chainswarm.placement.gbp_cr import InfeasiblePlacement, gbp_cr
from chainswarm.placement.moves import blocks_to_load
from chainswarm.placement.rebalance import Action, MoveProposal, Rebalancer, move_toward
from chainswarm.placement.reservation import choose_reservation, num_blocks_for, swarm_reservation
from chainswarm.placement.score import SwarmScore, swarm_score
from chainswarm.placement.specs import ModelSpec, ServerSpec, Span
from chainswarm.placement.start import best_response, choose_start
from chainswarm.placement.sticky import plan_target

STRATEGIES = ("global", "best-response", "sticky")


@dataclass
class Event:
    """One join or leave and what it cost: servers that loaded blocks they did not hold (the
    joining node's own first load is not counted), how many blocks they loaded, and all span
    changes (including servers that only dropped blocks, which reallocate their cache)."""

    kind: str
    node: str
    reloads: int = 0
    blocks_loaded: int = 0
    changes: int = 0


@dataclass
class ChurnSwarm:
    """The placed servers: spec, span and the reservation c each sized its cache for."""

    model: ModelSpec
    arrival_rate: float
    target_load: float
    specs: dict[str, ServerSpec] = field(default_factory=dict)
    spans: dict[str, Span] = field(default_factory=dict)
    reservation: dict[str, int] = field(default_factory=dict)

    def view(self, exclude: str | None = None) -> dict[str, tuple[ServerSpec, Span]]:
        return {n: (self.specs[n], s) for n, s in sorted(self.spans.items()) if n != exclude}

    def current_c(self) -> int | None:
        return swarm_reservation(self.reservation.values())

    def score(self) -> SwarmScore:
        return swarm_score(self.specs.values(), self.model, self.spans, self.arrival_rate)

    def move(self, name: str, span: Span, c: int, event: Event) -> None:
        if span != self.spans[name]:
            event.changes += 1
        loaded = blocks_to_load(self.spans[name], span)
        if loaded:
            event.reloads += 1
            event.blocks_loaded += loaded
        self.spans[name] = span
        self.reservation[name] = c


Proposer = Callable[[ChurnSwarm, int], Callable[[str], MoveProposal | None]]


def _sticky_proposer(swarm: ChurnSwarm, c: int) -> Callable[[str], MoveProposal | None]:
    """Every node with this view computes the same target; compute it once."""
    target = plan_target(
        swarm.specs.values(), swarm.spans, swarm.model, c, swarm.arrival_rate, swarm.target_load
    )
    score = swarm.score()
    return lambda name: move_toward(name, swarm.spans, target, score, swarm.model)


def _best_response_proposer(swarm: ChurnSwarm, c: int) -> Callable[[str], MoveProposal | None]:
    score = swarm.score()

    def propose(name: str) -> MoveProposal | None:
        old = swarm.spans[name]
        new = best_response(
            swarm.specs[name], old.count, swarm.view(exclude=name), swarm.model, swarm.arrival_rate
        )
        after = swarm_score(swarm.specs.values(), swarm.model, {**swarm.spans, name: new}, swarm.arrival_rate)
        gain = after.gain_over(score)
        if new == old or not gain > 0 or after.uncovered > score.uncovered:
            return None
        return MoveProposal(name, old, new, gain)

    return propose


def _reservation(swarm: ChurnSwarm, me: ServerSpec | None) -> int:
    servers = [*swarm.specs.values(), *([me] if me else [])]
    return choose_reservation(servers, swarm.model, swarm.arrival_rate, swarm.target_load, swarm.current_c())


def _settle_by_rounds(
    swarm: ChurnSwarm,
    proposer: Proposer,
    rebalancers: dict[str, Rebalancer],
    rng: random.Random,
    event: Event,
    max_rounds: int,
) -> None:
    """Rounds of checks until one passes with every node staying put."""
    for _ in range(max_rounds):
        c = _reservation(swarm, None)
        propose = proposer(swarm, c)
        busy = False
        moved = False
        for name in rng.sample(sorted(swarm.spans), len(swarm.spans)):
            decision = rebalancers[name].step(propose(name), lease_held=False)
            if decision.action is Action.STAY:
                continue
            busy = True
            if decision.action is Action.ACQUIRE_LEASE and not moved:
                decision = rebalancers[name].step(decision.proposal, lease_held=True)
                assert decision.action is Action.MOVE and decision.proposal is not None
                swarm.move(name, decision.proposal.new, c, event)
                moved = True
                propose = proposer(swarm, c)  # later checks this round read the new view
        if not busy:
            return


def _global_plan(swarm: ChurnSwarm, extra: ServerSpec | None) -> tuple[int, dict[str, Span]]:
    servers = [*swarm.specs.values(), *([extra] if extra else [])]
    try:
        c = choose_c(servers, swarm.model, swarm.arrival_rate, swarm.target_load)[0]
    except InfeasiblePlacement:
        c = choose_reservation(servers, swarm.model, swarm.arrival_rate, swarm.target_load, swarm.current_c())
    try:
        return c, gbp_cr(servers, swarm.model, c, swarm.arrival_rate, swarm.target_load)
    except InfeasiblePlacement:
        return c, {}


@dataclass(frozen=True)
class Phase:
    """The swarm after a phase: its score's value (Theorem-4 lower bound, s; inf if uncovered or
    overloaded) and the centralized plan's over the same servers (inf if it has none)."""

    lower_bound: float
    centralized: float
    placement: dict[str, Span]
    specs: tuple[ServerSpec, ...]

    @property
    def ratio(self) -> float:
        return self.lower_bound / self.centralized if math.isfinite(self.centralized) else math.nan


@dataclass(frozen=True)
class ChurnResult:
    strategy: str
    after_joins: Phase
    after_leaves: Phase
    events: tuple[Event, ...]

    def per_event(self, kind: str, what: str = "reloads") -> float:
        chosen = [e for e in self.events if e.kind == kind]
        return sum(getattr(e, what) for e in chosen) / len(chosen) if chosen else 0.0


def _phase(swarm: ChurnSwarm) -> Phase:
    score = swarm.score()
    value = score.value if not (score.uncovered or score.overloaded) else math.inf
    try:
        _, _, chains = choose_c(swarm.specs.values(), swarm.model, swarm.arrival_rate, swarm.target_load)
        central = response_time_bounds(chains, swarm.arrival_rate)[0]
    except InfeasiblePlacement:
        central = math.inf
    return Phase(value, central, dict(swarm.spans), tuple(swarm.specs.values()))


def run_churn(
    strategy: str,
    join_order: Sequence[ServerSpec],
    model: ModelSpec,
    arrival_rate: float,
    leaves: int,
    seed: int,
    target_load: float = 0.7,
    max_rounds: int | None = None,
) -> ChurnResult:
    """Join ``join_order`` one by one, settling after each, then remove ``leaves`` random servers
    one by one, settling after each. Deterministic for a seed."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    rng = random.Random(f"chainswarm-churn-{seed}")
    swarm = ChurnSwarm(model, arrival_rate, target_load)
    rebalancers: dict[str, Rebalancer] = {}
    rounds = max_rounds if max_rounds is not None else 3 * len(join_order) + 10
    events: list[Event] = []

    def settle(event: Event) -> None:
        if strategy == "global":
            c, plan = _global_plan(swarm, None)
            for name, span in sorted(plan.items()):
                if span != swarm.spans[name]:
                    swarm.move(name, span, c, event)
        else:
            proposer = _sticky_proposer if strategy == "sticky" else _best_response_proposer
            _settle_by_rounds(swarm, proposer, rebalancers, rng, event, rounds)

    for me in join_order:
        event = Event("join", me.name)
        if strategy == "global":
            c, plan = _global_plan(swarm, me)
            span = plan.get(me.name) or best_response(
                me, num_blocks_for(me, model, c), swarm.view(), model, arrival_rate
            )
        else:
            c = _reservation(swarm, me)
            if strategy == "sticky":
                span = choose_start(me, swarm.view(), model, c, arrival_rate, target_load)
            else:
                span = best_response(me, num_blocks_for(me, model, c), swarm.view(), model, arrival_rate)
        swarm.specs[me.name] = me
        swarm.spans[me.name] = span
        swarm.reservation[me.name] = c
        rebalancers[me.name] = Rebalancer()
        settle(event)
        events.append(event)
    after_joins = _phase(swarm)
    for name in rng.sample(sorted(swarm.spans), min(leaves, len(swarm.spans) - 1)):
        event = Event("leave", name)
        for table in (swarm.specs, swarm.spans, swarm.reservation, rebalancers):
            del table[name]
        settle(event)
        events.append(event)
    return ChurnResult(strategy, after_joins, _phase(swarm), tuple(events))
