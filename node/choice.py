"""From the swarm as read in the DHT to the inputs of the placement rules, and back.

The rules themselves are pure (``placement.reservation``, ``placement.start``,
``placement.rebalance``); this module only turns DHT records into the paper's servers and spans,
so that every node feeds the rules the same view.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainswarm import placement as rules
from chainswarm.dht.records import NodeState
from chainswarm.dht.view import SwarmView, total_arrival_rate
from chainswarm.placement import ModelSpec, ServerSpec, Span, cache_slots
from chainswarm.placement.rebalance import MoveProposal, evaluate_move

# Demand assumed when no client has announced any (req/s): small, so a young swarm favours long
# spans (short chains) over cache; the first clients' announcements correct it.
DEFAULT_ARRIVAL_RATE = 0.1
TARGET_LOAD = 0.7  # ρ̄ of the paper


@dataclass(frozen=True)
class SpanChoice:
    span: Span
    c_reserved: int
    cache_slots: int
    arrival_rate: float


def placed_nodes(view: SwarmView, exclude: str | None = None) -> rules.View:
    """Joining and online nodes as (server, span), by peer id; draining and offline ones are leaving."""
    return {
        peer: (node.server_spec(), node.span)
        for peer, node in sorted(view.nodes.items())
        if peer != exclude and node.state in (NodeState.JOINING, NodeState.ONLINE)
    }


def current_reservation(view: SwarmView) -> int | None:
    """The c the joining and online nodes run with now (None if none announces one)."""
    return rules.swarm_reservation(
        n.c_reserved for n in view.nodes.values() if n.state in (NodeState.JOINING, NodeState.ONLINE)
    )


def _reservation(view: SwarmView, servers: list[ServerSpec], model: ModelSpec, rate: float) -> int:
    return rules.choose_reservation(servers, model, rate, TARGET_LOAD, current=current_reservation(view))


def choose_span(view: SwarmView, me: ServerSpec, model: ModelSpec) -> SpanChoice:
    """Reservation c*, block count m_j(c*) and start for a node joining ``view`` (DESIGN.md 3–5)."""
    rate = total_arrival_rate(view, DEFAULT_ARRIVAL_RATE)
    others = placed_nodes(view, exclude=me.name)
    c = _reservation(view, [spec for spec, _ in others.values()] + [me], model, rate)
    span = rules.choose_start(me, others, model, c, rate, TARGET_LOAD)
    if span.count == 0:
        raise ValueError(f"memory {me.memory:.0f} bytes cannot hold one block with cache for c*={c} jobs")
    return SpanChoice(span, c, cache_slots(me.memory, model, span.count), rate)


def propose_move(
    view: SwarmView, me: ServerSpec, span: Span, model: ModelSpec
) -> tuple[MoveProposal | None, SpanChoice]:
    """The move the agreed plan asks of this node (or None), and what it would host after it."""
    rate = total_arrival_rate(view, DEFAULT_ARRIVAL_RATE)
    placed = placed_nodes(view, exclude=me.name)
    placed[me.name] = (me, span)
    c = _reservation(view, [spec for spec, _ in placed.values()], model, rate)
    proposal = evaluate_move(me.name, placed, model, c, rate, TARGET_LOAD)
    new = proposal.new if proposal is not None else span
    return proposal, SpanChoice(new, c, cache_slots(me.memory, model, new.count), rate)


def fixed_span(start: int, end: int, me: ServerSpec, model: ModelSpec, view: SwarmView) -> SpanChoice:
    """``--blocks A:B``: the operator's span, with the slots its memory leaves."""
    if end > model.num_blocks:
        raise ValueError(f"--blocks {start}:{end} goes past the model's {model.num_blocks} blocks")
    slots = cache_slots(me.memory, model, end - start)
    if slots < end - start:
        raise ValueError(f"--memory too small for blocks {start}:{end} plus one cache slot per block")
    return SpanChoice(Span(start, end - start), 0, slots, total_arrival_rate(view, DEFAULT_ARRIVAL_RATE))
