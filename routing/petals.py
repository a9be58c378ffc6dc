"""Petals' client routing over our view, as the baseline for benchmarks (``RoutingPolicy.PETALS``).

Each request takes its own min-latency route (``placement.baselines.petals.min_latency_route``:
Dijkstra with RTT/2 + 18 ms per hop, 1/rps per block, +10 s for a node short of cache) and is
bound to it: Petals has no client queue, a request that lands on a full server waits in that
server's allocation queue. Our nodes answer "busy" instead of queueing, so the client keeps the
queue for them: a request that got "busy" from a node waits until one of this client's sessions
on that node ends (FIFO), or ``PETALS_POLL_S`` at most (other clients' sessions end unseen), then
tries the same route again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chainswarm.dht.records import NodeRecord
from chainswarm.placement.baselines.paths import RouteGraph
from chainswarm.placement.baselines.petals import PetalsLatency, min_latency_route
from chainswarm.routing.chains import DEFAULT_RTT_S
from chainswarm.routing.hop import Hop

PETALS_POLL_S = 1.0
"""Longest wait before retrying a busy node when none of our own sessions there has ended."""


def petals_route(nodes: Iterable[NodeRecord], num_blocks: int, rtts: Mapping[str, float]) -> list[Hop] | None:
    """The min-latency route Petals would pick over ``nodes``, or None if they leave a gap.

    Node-to-node pings are not announced in our records, so the client's own RTT to the next
    node stands in for them (on a loopback or LAN swarm they are the same).
    """
    by_id = {n.peer_id: n for n in nodes}
    graph = RouteGraph({p: n.span for p, n in by_id.items()}, num_blocks)
    if not graph.covers_all_blocks():
        return None
    rtt = {p: rtts.get(p, DEFAULT_RTT_S) for p in by_id}
    latency = PetalsLatency(
        client_rtt_s=rtt,
        server_rtt_s=lambda _i, j: rtt[j],
        block_step_s={p: n.decode_s_per_step_alone or n.decode_s_per_step for p, n in by_id.items()},
    )
    # Petals checks the whole hosted span against the free cache (pessimistic, as it does).
    hops = min_latency_route(graph, latency, lambda j: by_id[j].cache_slots_free < by_id[j].num_blocks)
    route, start = [], 0
    for peer_id, count in hops:
        route.append(Hop(peer_id, start, start + count))
        start += count
    return route
