"""A BPRR-like baseline (Sun, He, Ji, Parag, IFIP Performance 2025; paper §7.1): conservative
greedy block placement (CG-BP) and per-request waiting-aware shortest-path routing (WS-RR).

CG-BP reserves cache as if all |R| concurrent requests pass through every server, places servers
fastest first (by amortized time per block), first where some block still serves fewer than |R|
requests, then where capacity is lowest. WS-RR routes each request on its own, with Dijkstra
over the routing topology and a link cost of service time plus the *estimated* wait for cache,
so requests can meet "surprise" waits when the estimate is wrong. No central queue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from chainswarm.placement import blocks_for_reservation, cache_slots
from chainswarm.placement.baselines.paths import Hop, RouteGraph
from chainswarm.placement.baselines.petals import choose_best_start
from chainswarm.placement.specs import ModelSpec, ServerSpec, Span


def bprr_num_blocks(memory: float, model: ModelSpec, num_requests: int) -> int:
    """Conservative block count m_j = min(⌊M_j/(s_m + s_c·|R|)⌋, L), exact."""
    return blocks_for_reservation(memory, model, num_requests)


def _phase1_start(capacity: list[int], amortized: list[float], count: int, num_requests: int) -> int:
    """The window covering an under-served block with the largest total amortized time."""
    best_start, best_sum = -1, -math.inf
    for a in range(len(capacity) - count + 1):
        window = range(a, a + count)
        if any(capacity[b] < num_requests for b in window):
            total = sum(amortized[b] for b in window)
            if total > best_sum:
                best_start, best_sum = a, total
    return best_start


def cg_bp(servers: Sequence[ServerSpec], model: ModelSpec, num_requests: int) -> dict[str, Span]:
    """CG-BP placement for ``num_requests`` = |R|. Ties: by server name, then lowest start.

    Raises ValueError when the conservative block counts cannot cover all L blocks.
    """
    if num_requests < 1:
        raise ValueError(f"num_requests must be >= 1, got {num_requests}")
    L = model.num_blocks
    counts = {s.name: bprr_num_blocks(s.memory, model, num_requests) for s in servers}
    active = [s for s in servers if counts[s.name] > 0]
    if sum(counts[s.name] for s in active) < L:
        raise ValueError(
            f"|R|={num_requests}: the servers' conservative block counts cannot cover {L} blocks"
        )
    per_block = {s.name: (s.comm_time + s.block_time * counts[s.name]) / counts[s.name] for s in active}
    sessions = {s.name: cache_slots(s.memory, model, counts[s.name]) // counts[s.name] for s in active}
    slowest = 2 * max(per_block.values())  # a virtual server slower than any real one
    capacity = [0] * L
    amortized = [num_requests * slowest] * L
    placement: dict[str, Span] = {}
    for server in sorted(active, key=lambda s: (per_block[s.name], s.name)):
        count = counts[server.name]
        if any(c < num_requests for c in capacity):
            start = _phase1_start(capacity, amortized, count, num_requests)
        else:
            start = choose_best_start(capacity, count)
        for b in range(start, start + count):
            amortized[b] -= (slowest - per_block[server.name]) * min(
                max(num_requests - capacity[b], 0), sessions[server.name]
            )
            capacity[b] += sessions[server.name]
        placement[server.name] = Span(start, count)
    return placement


def ws_rr_route(
    graph: RouteGraph,
    servers: Mapping[str, ServerSpec],
    estimated_wait_s: Callable[[str, int], float],
) -> tuple[list[Hop], float]:
    """WS-RR: the route minimizing Σ(τ^c_j + τ^p_j·m_ij + estimated wait for m_ij cache slots at j);
    returns the route and that estimated total (seconds)."""

    def entry(_prev: str | None, j: str, m: int) -> float:
        spec = servers[j]
        return spec.comm_time + spec.block_time * m + estimated_wait_s(j, m)

    return graph.shortest(entry, lambda _j: 0.0)


def choose_num_requests(servers: Sequence[ServerSpec], model: ModelSpec, arrival_rate: float) -> int:
    """|R|: the smallest value at least the mean plus one standard deviation of the number of
    requests in service, λT + √(λT), where T is the fastest route's service time under CG-BP(|R|)
    (Little's law with Poisson-like concurrency). Larger |R| shrinks blocks per server and
    lengthens routes, so the search stops at the first |R| that covers its own demand, or at the
    largest |R| whose placement still covers every block.

    Raises ValueError when even |R| = 1 cannot cover the model.
    """
    by_name = {s.name: s for s in servers}
    chosen = 0
    for num_requests in range(1, 1 + max(cache_slots(s.memory, model, 1) for s in servers)):
        try:
            graph = RouteGraph(cg_bp(servers, model, num_requests), model.num_blocks)
        except ValueError:
            break
        if not graph.covers_all_blocks():
            break
        chosen = num_requests
        _, service_s = ws_rr_route(graph, by_name, lambda _j, _m: 0.0)
        load = arrival_rate * service_s
        if num_requests >= load + math.sqrt(load):
            break
    if chosen == 0:
        raise ValueError("BPRR: no |R| >= 1 lets the conservative placement cover every block")
    return chosen
