"""Per-request routes over a placement's routing topology (paper §1, "logical routing topology").

A route is a sequence of servers whose spans cover blocks 0..L-1 in order; server j after server i
computes m_ij = end_j − end_i blocks (each block runs at the first server on the route that hosts
it, as in Petals). Petals' ``min_latency`` routing and BPRR's WS-RR both search this graph with
Dijkstra; only their edge costs differ, so the graph lives here once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from chainswarm.placement.specs import Span

Hop = tuple[str, int]
"""(server name, number of blocks it computes for this request)."""

EntryCost = Callable[[str | None, str, int], float]
"""cost(previous server or None at the client, next server, blocks it computes) in seconds."""


class RouteGraph:
    """The edges i→j with start_j ≤ end_i < end_j, precomputed once per placement."""

    def __init__(self, placement: Mapping[str, Span], num_blocks: int) -> None:
        spans = {name: span for name, span in sorted(placement.items()) if span.count > 0}
        self.num_blocks = num_blocks
        self.spans: dict[str, Span] = spans
        self.first: list[Hop] = [(j, s.end) for j, s in spans.items() if s.start == 0]
        self.next: dict[str, list[Hop]] = {
            i: [(j, sj.end - si.end) for j, sj in spans.items() if sj.start <= si.end < sj.end]
            for i, si in spans.items()
        }

    def covers_all_blocks(self) -> bool:
        """True when some route reaches block L-1 (every block is hosted somewhere in order)."""
        reach, frontier = set(), [j for j, _ in self.first]
        while frontier:
            i = frontier.pop()
            if i in reach:
                continue
            reach.add(i)
            frontier.extend(j for j, _ in self.next[i])
        return any(self.spans[i].end == self.num_blocks for i in reach)

    def shortest(self, entry_cost: EntryCost, exit_cost: Callable[[str], float]) -> tuple[list[Hop], float]:
        """Cheapest route and its cost; ties break by server name so results are reproducible.

        Raises ValueError when no route covers every block.
        """
        dist: dict[str, float] = {}
        back: dict[str, tuple[str | None, int]] = {}
        heap: list[tuple[float, str, str | None, int]] = [
            (entry_cost(None, j, m), j, None, m) for j, m in self.first
        ]
        heapq.heapify(heap)
        best: tuple[float, str] | None = None
        while heap:
            d, j, prev, m = heapq.heappop(heap)
            if j in dist:
                continue
            dist[j], back[j] = d, (prev, m)
            if best is not None and d >= best[0]:
                break
            if self.spans[j].end == self.num_blocks:
                total = d + exit_cost(j)
                if best is None or total < best[0]:
                    best = (total, j)
                continue
            for k, mk in self.next[j]:
                if k not in dist:
                    heapq.heappush(heap, (d + entry_cost(j, k, mk), k, j, mk))
        if best is None:
            raise ValueError("no route covers every block: the placement leaves a gap")
        hops: list[Hop] = []
        node: str | None = best[1]
        while node is not None:
            prev, m = back[node]
            hops.append((node, m))
            node = prev
        return hops[::-1], best[0]
