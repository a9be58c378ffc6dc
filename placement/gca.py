"""GCA: greedy cache allocation (paper §3.2, Alg. 2), on the block boundaries instead of servers.

Alg. 2 repeatedly takes the fastest source→sink path in the logical routing topology, gives it
capacity min_j ⌊M̃_j/m_ij⌋, subtracts m_ij·c_k from each hop's residual slots M̃_j and removes every
edge (i, j) with M̃_j < m_ij, until the source and sink disconnect.

Why positions: an edge (i, j) exists iff start_j ≤ end_i < end_j, needs m_ij = end_j − end_i slots
at j and costs τ^c_j + τ^p_j·m_ij — all of it depends on i only through p = end_i. So the server
graph collapses onto the L+1 block boundaries p = 0..L (source at 0, sink at L): a DAG with
edge p→q carried by the best server j with end_j = q, start_j ≤ p and M̃_j ≥ q − p. W[p, q] holds
that edge's cost. After a chain is chosen, only the entries whose carrier lost the edge get a new
best server; the fastest path is Bellman–Ford on the (L+1)² matrix (hops + 1 vectorized rounds).
Per round that is O(L²) work instead of Dijkstra's O(J²) on the server graph.

Tie-break (shared with the reference Dijkstra in tests/placement/): among feasible chains, the one
with the smallest *exact* service time (the exact rational sum of the float hop times), then the
fewest servers, then the lexicographically smallest sequence of server names. Exact sums make
this order consistent under extension, so per-node optimal labels give the global optimum. The
float search finds every boundary whose best path is within ``_TIE_TOLERANCE`` of the best and
breaks such near-ties exactly (``math.fsum`` of the difference has the exact sign).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from .exact import cache_slots
from .specs import Chain, ModelSpec, ServerSpec, Span, make_chain

# Relative float error of a path cost is at most ~(hops)·2^-53; candidates this close to the best
# are compared exactly.
_TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class _Label:
    """A path from the source to a boundary: hop times, hosting-server ranks (= name order)."""

    hop_times: tuple[float, ...]
    ranks: tuple[int, ...]

    def extend(self, time: float, rank: int) -> _Label:
        return _Label(self.hop_times + (time,), self.ranks + (rank,))

    def better_than(self, other: _Label) -> bool:
        """Exact cost, then fewer hops, then smaller name sequence."""
        diff = math.fsum(self.hop_times + tuple(-t for t in other.hop_times))
        if diff != 0:
            return diff < 0
        if len(self.ranks) != len(other.ranks):
            return len(self.ranks) < len(other.ranks)
        return self.ranks < other.ranks


class _BoundaryGraph:
    """The position DAG with its per-column best servers, updated as residual slots shrink."""

    def __init__(self, hosts: list[tuple[ServerSpec, Span]], residual: list[int], num_blocks: int):
        self.num_blocks = num_blocks
        self.start = np.array([span.start for _, span in hosts], dtype=np.int64)
        self.end = np.array([span.end for _, span in hosts], dtype=np.int64)
        self.comm = np.array([s.comm_time for s, _ in hosts], dtype=np.float64)
        self.block = np.array([s.block_time for s, _ in hosts], dtype=np.float64)
        self.residual = list(residual)
        self.lowest = np.maximum(self.start, self.end - np.array(residual, dtype=np.int64))
        size = num_blocks + 1
        self.cost = np.full((size, size), np.inf)
        self.server = np.full((size, size), -1, dtype=np.int64)
        self._via = np.empty((size, size))
        self.by_end = {int(q): np.flatnonzero(self.end == q) for q in np.unique(self.end)}
        self._build()

    def _build(self) -> None:
        """All columns at once: :meth:`_refresh` for every end position, vectorized."""
        count = len(self.end)
        if count == 0:
            return
        order = np.lexsort((np.arange(count), self.end))  # by end, then name
        ends = self.end[order]
        first = np.flatnonzero(np.r_[True, ends[1:] != ends[:-1]])
        boundaries = np.arange(self.num_blocks + 1)
        times = self.comm[order, None] + self.block[order, None] * (ends[:, None] - boundaries[None, :])
        fits = (self.lowest[order, None] <= boundaries[None, :]) & (boundaries[None, :] < ends[:, None])
        times[~fits] = np.inf
        column_min = np.minimum.reduceat(times, first, axis=0)
        group = np.repeat(np.arange(len(first)), np.diff(np.r_[first, count]))
        hits = (times == column_min[group]) & fits
        winner = np.minimum.reduceat(np.where(hits, order[:, None], count), first, axis=0)
        columns = ends[first]
        self.cost[:, columns] = column_min.T
        self.server[:, columns] = np.where(winner < count, winner, -1).T

    def _refresh(self, q: int, boundaries: np.ndarray) -> None:
        """Recompute W[p, q] and its server for p in ``boundaries``; members of the column are in
        name order, so argmin's first occurrence breaks equal costs by name."""
        members = self.by_end[q]
        times = self.comm[members, None] + self.block[members, None] * (q - boundaries)[None, :]
        times[self.lowest[members, None] > boundaries[None, :]] = np.inf
        best = np.argmin(times, axis=0)
        cost = times[best, np.arange(len(boundaries))]
        self.cost[boundaries, q] = cost
        self.server[boundaries, q] = np.where(np.isfinite(cost), members[best], -1)

    def fastest_path(self) -> _Label | None:
        """The tie-broken fastest path to the sink, or None if the sink is unreachable.

        Bellman–Ford over the boundaries gives each boundary's float distance; walking back from
        the sink, a boundary with one predecessor within ``_TIE_TOLERANCE`` of its distance takes
        it, and one with several compares their exact labels.
        """
        dist = np.full(self.num_blocks + 1, np.inf)
        dist[0] = 0.0
        via = np.add(dist[:, None], self.cost, out=self._via)
        while True:
            relaxed = np.minimum(dist, via.min(axis=0))
            if (relaxed == dist).all():
                break
            dist = relaxed
            via = np.add(dist[:, None], self.cost, out=self._via)
        if not math.isfinite(dist[-1]):
            return None
        near = via <= dist * (1.0 + _TIE_TOLERANCE)
        ties = near.sum(axis=0).tolist()
        predecessor = near.argmax(axis=0).tolist()
        memo: dict[int, _Label] = {0: _Label((), ())}

        def best(q: int) -> _Label:
            if q in memo:
                return memo[q]
            if ties[q] == 1:
                p = predecessor[q]
                label = best(p).extend(float(self.cost[p, q]), int(self.server[p, q]))
            else:
                candidates = [
                    best(p).extend(float(self.cost[p, q]), int(self.server[p, q]))
                    for p in np.flatnonzero(near[:, q]).tolist()
                ]
                label = candidates[0]
                for candidate in candidates[1:]:
                    if candidate.better_than(label):
                        label = candidate
            memo[q] = label
            return label

        return best(self.num_blocks)

    def reserve(self, j: int, slots: int) -> None:
        """Take ``slots`` of server j's residual and drop its edges that no longer fit: only the
        boundaries where j carried the edge need a new best server."""
        self.residual[j] -= slots
        q = int(self.end[j])
        old = int(self.lowest[j])
        new = min(max(int(self.start[j]), q - self.residual[j]), q)
        if new == old:
            return
        self.lowest[j] = new
        lost = old + np.flatnonzero(self.server[old:new, q] == j)
        if len(lost):
            self._refresh(q, lost)


def _hosts(
    servers: Iterable[ServerSpec], model: ModelSpec, placement: Mapping[str, Span]
) -> list[tuple[ServerSpec, Span]]:
    """Servers that host at least one block, in name order, with their spans checked."""
    by_name = {s.name: s for s in servers}
    unknown = sorted(set(placement) - set(by_name))
    if unknown:
        raise ValueError(f"placement names servers not in the server list: {unknown}")
    hosts = []
    for name in sorted(placement):
        span = placement[name]
        if span.count <= 0:
            continue
        if span.start < 0 or span.end > model.num_blocks:
            raise ValueError(f"server {name!r}: span {span} outside blocks 0..{model.num_blocks - 1}")
        hosts.append((by_name[name], span))
    return hosts


def gca_iter(
    servers: Iterable[ServerSpec], model: ModelSpec, placement: Mapping[str, Span]
) -> Iterator[Chain]:
    """Alg. 2 lazily: yields GCA's chains one at a time, fastest first, so a caller can stop
    early (the search over c prunes a c once even the chains so far cannot win)."""
    hosts = _hosts(servers, model, placement)
    residual = [cache_slots(s.memory, model, span.count) for s, span in hosts]
    graph = _BoundaryGraph(hosts, residual, model.num_blocks)
    while (path := graph.fastest_path()) is not None:
        ends = [int(graph.end[j]) for j in path.ranks]
        blocks = [e - b for b, e in zip([0, *ends], ends, strict=False)]
        capacity = min(graph.residual[j] // m for j, m in zip(path.ranks, blocks, strict=True))
        for j, m in zip(path.ranks, blocks, strict=True):
            graph.reserve(j, m * capacity)
        yield make_chain([(hosts[j][0], m) for j, m in zip(path.ranks, blocks, strict=True)], capacity)


def gca(servers: Iterable[ServerSpec], model: ModelSpec, placement: Mapping[str, Span]) -> list[Chain]:
    """Alg. 2: the chains and capacities GCA builds on ``placement``, fastest first (construction
    order; service times never decrease, since each round searches a smaller graph). Each
    capacity is ≥ 1 and together they never over-commit a server's residual slots:
    Σ_k m_jk·c_k ≤ ⌊(M_j − s_m·m_j)/s_c⌋. Empty if the placement does not cover 0..L-1."""
    return list(gca_iter(servers, model, placement))
