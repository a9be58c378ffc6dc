"""A literal Alg. 2 (paper §3.2) on the server graph, with Dijkstra: slow, obviously right.

Kept out of the package: it is the yardstick the fast ``placement.gca`` is checked against.
Path keys are (exact service time as a Fraction of the float hop times, number of servers,
tuple of server names), the tie-break ``placement.gca`` documents.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from fractions import Fraction

from chainswarm.placement import Chain, ModelSpec, ServerSpec, Span, cache_slots
from chainswarm.placement.specs import hop_time, make_chain

SOURCE, SINK = "<source>", "<sink>"


def _edges(hosts: dict[str, Span], num_blocks: int) -> dict[tuple[str, str], int]:
    """(i, j) → m_ij for the logical routing topology: start_j ≤ end_i < end_j, 0-based, with
    the source ending at 0 and the sink spanning [L, L+1)."""
    ends = {SOURCE: 0, **{n: s.end for n, s in hosts.items()}}
    spans = {**{n: (s.start, s.end) for n, s in hosts.items()}, SINK: (num_blocks, num_blocks + 1)}
    return {
        (i, j): end_j - end_i
        for i, end_i in ends.items()
        for j, (start_j, end_j) in spans.items()
        if i != j and start_j <= end_i < end_j
    }


def _dijkstra(
    edges: dict[tuple[str, str], int], servers: Mapping[str, ServerSpec]
) -> list[tuple[str, int]] | None:
    """Fastest source→sink path as [(server, m_ij)], or None if disconnected."""
    out: dict[str, list[tuple[str, int]]] = {}
    for (i, j), m in edges.items():
        out.setdefault(i, []).append((j, m))
    best: dict[str, tuple] = {SOURCE: (Fraction(0), 0, ())}
    hops: dict[str, list[tuple[str, int]]] = {SOURCE: []}
    heap = [(best[SOURCE], SOURCE)]
    done: set[str] = set()
    while heap:
        key, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        if node == SINK:
            return hops[node]
        cost, count, names = key
        for j, m in out.get(node, []):
            if j == SINK:
                candidate = (cost, count + 1, names)
            else:
                candidate = (cost + Fraction(hop_time(servers[j], m)), count + 1, (*names, j))
            if j not in best or candidate < best[j]:
                best[j] = candidate
                hops[j] = hops[node] if j == SINK else [*hops[node], (j, m)]
                heapq.heappush(heap, (candidate, j))
    return None


def reference_gca(
    servers: Sequence[ServerSpec], model: ModelSpec, placement: Mapping[str, Span]
) -> list[Chain]:
    by_name = {s.name: s for s in servers}
    hosts = {n: s for n, s in placement.items() if s.count > 0}
    residual = {n: cache_slots(by_name[n].memory, model, s.count) for n, s in hosts.items()}
    edges = {
        (i, j): m for (i, j), m in _edges(hosts, model.num_blocks).items() if j == SINK or residual[j] >= m
    }
    chains = []
    while (path := _dijkstra(edges, by_name)) is not None:
        capacity = min(residual[j] // m for j, m in path)
        for j, m in path:
            residual[j] -= m * capacity
        edges = {(i, j): m for (i, j), m in edges.items() if j == SINK or residual[j] >= m}
        chains.append(make_chain([(by_name[j], m) for j, m in path], capacity))
    return chains
