"""Per-request routers for the baselines, over the cache state of a ``RoutedDispatcher``.

``PetalsRouter`` sees each server's free cache as of its last refresh, ``refresh_s`` ago at most
(0: the current value at every request; Petals' own client re-reads DHT records every 60 s and
servers re-announce every 120 s). ``WsRrRouter`` keeps only a belief: each routed request occupies its slots until
"now + its estimated wait + its mean service time" or until the client sees it finish,
whichever comes first; a request that runs longer than its mean is believed gone, which is where
BPRR's "surprise" waits come from.
"""

from __future__ import annotations

from collections.abc import Mapping

from chainswarm.placement.baselines import PetalsLatency, RouteGraph, min_latency_route, ws_rr_route
from chainswarm.placement.specs import ServerSpec
from chainswarm.sim.dispatch import CachePools
from chainswarm.sim.engine import Hop
from chainswarm.sim.workload import Job


class PetalsRouter:
    """Petals' ``min_latency`` routing with the 10 s penalty where a span lacks cache; the view of
    free cache is re-read when it is ``refresh_s`` old, at the next request."""

    def __init__(self, graph: RouteGraph, latency: PetalsLatency, refresh_s: float = 0.0) -> None:
        self._graph = graph
        self._latency = latency
        self._refresh_s = refresh_s
        self._free: dict[str, int] = {}
        self._seen_at = -float("inf")

    def route(self, job: Job, now: float, pools: CachePools) -> list[Hop]:
        if now - self._seen_at >= self._refresh_s:
            self._free = {name: pools.free(name) for name in self._graph.spans}
            self._seen_at = now

        def lacks_cache(server: str) -> bool:
            return self._free[server] < self._graph.spans[server].count

        return min_latency_route(self._graph, self._latency, lacks_cache)

    def finished(self, job: Job) -> None:
        """Petals' routing keeps no per-request state."""


class WsRrRouter:
    """BPRR's WS-RR: service time plus the estimated wait for cache, from mean-based beliefs."""

    def __init__(
        self, graph: RouteGraph, servers: Mapping[str, ServerSpec], capacity: Mapping[str, int]
    ) -> None:
        self._graph = graph
        self._servers = servers
        self._capacity = capacity
        self._belief: dict[str, dict[int, tuple[float, int]]] = {name: {} for name in graph.spans}

    def _estimated_wait(self, server: str, slots: int, now: float) -> float:
        """Time until ``slots`` are believed free at ``server``."""
        held = sorted((end, n) for end, n in self._belief[server].values() if end > now)
        free = self._capacity[server] - sum(n for _, n in held)
        if free >= slots:
            return 0.0
        for end, n in held:
            free += n
            if free >= slots:
                return end - now
        raise ValueError(f"{server} can never hold {slots} cache slots")

    def route(self, job: Job, now: float, pools: CachePools) -> list[Hop]:
        hops, estimate_s = ws_rr_route(
            self._graph, self._servers, lambda j, m: self._estimated_wait(j, m, now)
        )
        for server, blocks in hops:
            self._belief[server][job.job_id] = (now + estimate_s, blocks)
        return hops

    def finished(self, job: Job) -> None:
        for beliefs in self._belief.values():
            beliefs.pop(job.job_id, None)
