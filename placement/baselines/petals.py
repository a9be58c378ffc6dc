"""Petals' own policies, as the baseline the paper compares against (paper §7.2; Petals 2.3,
``server/block_selection.py`` and ``client/routing/sequence_manager.py``).

Placement: servers join one at a time; each hosts ``petals_num_blocks`` consecutive blocks and
starts where the swarm is weakest: the window whose sorted per-block throughput vector is
lexicographically smallest, ties to the lowest start (``_choose_best_start``). Routing: each
request runs its own min-latency Dijkstra with a 10 s penalty for a server short of cache, and
there is no central queue: a request that lands on a full server waits there until cache frees.
Periodic rebalancing (``balance_quality`` 0.75) is not modelled: servers keep their join choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chainswarm.placement import blocks_for_reservation
from chainswarm.placement.baselines.paths import Hop, RouteGraph
from chainswarm.placement.specs import ModelSpec, Span

ALLOC_PENALTY_S = 10.0
"""Added to a route for each server whose free cache cannot hold the session (``alloc_delay``)."""

HOP_OVERHEAD_S = 0.018
"""Per-hop serialization overhead Petals adds to every edge (``overhead_delay``)."""

ATTN_CACHE_SLOTS_PER_BLOCK = 2
"""Petals' cache per hosted block in units of the swarm's per-job cache s_c: ``attn_cache_tokens``
(4096 for models without grouped-query attention) over the 2048-token maximum length that s_c
is sized for."""


def petals_num_blocks(
    memory: float,
    model: ModelSpec,
    *,
    reserve: float = 0.0,
    cache_slots_per_block: int = ATTN_CACHE_SLOTS_PER_BLOCK,
) -> int:
    """``_choose_num_blocks``: min(⌊(M − reserve)/(s_m + s_c·k)⌋, L), k = ``cache_slots_per_block``.

    ``reserve`` is Petals' autograd reserve (2 GiB × hidden/14336). The floor is exact.
    """
    if memory <= reserve:
        return 0
    return blocks_for_reservation(memory - reserve, model, cache_slots_per_block)


def petals_cache_slots(num_blocks: int, cache_slots_per_block: int = ATTN_CACHE_SLOTS_PER_BLOCK) -> int:
    """Cache block-slots a Petals server holds: its attention cache is sized per hosted block."""
    return num_blocks * cache_slots_per_block


def petals_throughput(forward_rps: float, network_rps: float, num_blocks: int) -> float:
    """The scalar a server announces: min(forward_rps / ((m+1)/2), network_rps) (Petals PR #314)."""
    return min(forward_rps / ((num_blocks + 1) / 2), network_rps)


def choose_best_start(throughputs: Sequence[float], num_blocks: int) -> int:
    """Start of the window whose sorted values are lexicographically smallest; ties → lowest start.

    This lands a server on the swarm's weakest block, breaking ties by the next-weakest, which
    greedily maximizes the bottleneck (minimum per-block) throughput.
    """
    if not 1 <= num_blocks <= len(throughputs):
        raise ValueError(f"num_blocks must be in 1..{len(throughputs)}, got {num_blocks}")
    options = ((sorted(throughputs[i : i + num_blocks]), i) for i in range(len(throughputs) - num_blocks + 1))
    return min(options)[1]


@dataclass(frozen=True)
class PetalsServer:
    """A joining Petals server: how many blocks it will host and the throughput it announces."""

    name: str
    num_blocks: int
    throughput: float


def block_throughputs(
    placement: Mapping[str, Span], throughput: Mapping[str, float], num_blocks: int
) -> list[float]:
    """Per-block sum of the announced throughputs of the servers hosting it, summed in name order
    (Petals sorts by peer id so every reader gets identical floating-point sums)."""
    totals = [0.0] * num_blocks
    for name in sorted(placement):
        span = placement[name]
        for b in range(span.start, span.end):
            totals[b] += throughput[name]
    return totals


def petals_placement(joining: Sequence[PetalsServer], num_blocks: int) -> dict[str, Span]:
    """Servers in join order each take ``choose_best_start`` given those before them."""
    placement: dict[str, Span] = {}
    throughput = {s.name: s.throughput for s in joining}
    for server in joining:
        if server.num_blocks <= 0:
            continue
        count = min(server.num_blocks, num_blocks)
        start = choose_best_start(block_throughputs(placement, throughput, num_blocks), count)
        placement[server.name] = Span(start, count)
    return placement


@dataclass(frozen=True)
class PetalsLatency:
    """What a Petals client knows for min-latency routing, in seconds.

    ``client_rtt_s[j]``: its own ping to server j; ``server_rtt_s(i, j)``: i's announced
    ``next_pings`` entry for j; ``block_step_s[j]``: 1/inference_rps, the time j takes for one
    block of one decode step.
    """

    client_rtt_s: Mapping[str, float]
    server_rtt_s: Callable[[str, str], float]
    block_step_s: Mapping[str, float]


def min_latency_route(
    graph: RouteGraph, latency: PetalsLatency, lacks_cache: Callable[[str], bool]
) -> list[Hop]:
    """``make_sequence(mode="min_latency")``: Dijkstra with edge cost RTT/2 + 18 ms, 1/rps per block,
    +10 s where ``lacks_cache(server)`` (Petals checks the whole span against ``cache_tokens_left``).
    """

    def entry(prev: str | None, j: str, m: int) -> float:
        rtt = latency.client_rtt_s[j] if prev is None else latency.server_rtt_s(prev, j)
        penalty = ALLOC_PENALTY_S if lacks_cache(j) else 0.0
        return rtt / 2 + HOP_OVERHEAD_S + penalty + m * latency.block_step_s[j]

    hops, _ = graph.shortest(entry, lambda j: latency.client_rtt_s[j] / 2)
    return hops
