"""From the swarm as read in the DHT to the inputs of the placement rules, and back.

The rules themselves are pure (``placement.decentralized``); this module only turns DHT records
into the paper's servers and spans, so that every node feeds the rules the same view.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainswarm.dht.records import NodeState
from chainswarm.dht.swarm import SwarmView, total_arrival_rate
from chainswarm.placement import ModelSpec, ServerSpec, Span, cache_slots

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


def others_in(view: SwarmView, me: str) -> dict[str, tuple[ServerSpec, Span]]:
    """The other joining or online nodes as (server, span); draining and offline ones are leaving."""
    return {
        peer: (node.server_spec(), node.span)
        for peer, node in sorted(view.nodes.items())
        if peer != me and node.state in (NodeState.JOINING, NodeState.ONLINE)
    }


def choose_span(view: SwarmView, me: ServerSpec, model: ModelSpec) -> SpanChoice:
    """Reservation c*, block count m_j(c*) and start for a node joining ``view`` (DESIGN.md 3–5)."""
    from chainswarm.placement import decentralized as rules

    arrival_rate = total_arrival_rate(view, DEFAULT_ARRIVAL_RATE)
    others = others_in(view, me.name)
    servers = [spec for spec, _ in others.values()] + [me]
    c = rules.choose_reservation(servers, model, arrival_rate, TARGET_LOAD)
    span = rules.choose_start(me, others, model, c, arrival_rate, TARGET_LOAD)
    return SpanChoice(span, c, cache_slots(me.memory, model, span.count), arrival_rate)


def fixed_span(start: int, end: int, me: ServerSpec, model: ModelSpec, view: SwarmView) -> SpanChoice:
    """``--blocks A:B``: the operator's span, with the slots its memory leaves."""
    if end > model.num_blocks:
        raise ValueError(f"--blocks {start}:{end} goes past the model's {model.num_blocks} blocks")
    slots = cache_slots(me.memory, model, end - start)
    if slots < end - start:
        raise ValueError(f"--memory too small for blocks {start}:{end} plus one cache slot per block")
    return SpanChoice(Span(start, end - start), 0, slots, total_arrival_rate(view, DEFAULT_ARRIVAL_RATE))
