"""The two dispatching styles the paper compares.

``JffcDispatcher``: the proposed system and JFFC-only. A central FIFO queue in front of fixed
chains, each with a capacity c_k; the JFFC state machine from ``placement`` decides.

``RoutedDispatcher``: Petals and BPRR. No central queue: each request gets its own route from a
``Router`` at arrival and then must obtain m_j cache block-slots at every server on it, in route
order, holding what it has (Petals opens span sessions one after another). A server grants slots
first come, first served (Petals' allocation lock is FIFO), so a request that finds a server full
waits there until enough earlier requests finish. Acquiring in route order is deadlock-free: a
route visits servers in increasing span end, one global order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Protocol

from chainswarm.placement import JFFC
from chainswarm.placement.specs import Chain
from chainswarm.sim.engine import Dispatcher, Hop, Start
from chainswarm.sim.workload import Job


class JffcDispatcher(Dispatcher):
    """Central queue + Join-the-Fastest-Free-Chain (paper Alg. 3)."""

    def __init__(self, chains: Sequence[Chain]) -> None:
        self._jffc = JFFC(chains)
        self._chain_of: dict[int, Chain] = {}

    def _start(self, job: Job, chain: Chain) -> Start:
        self._chain_of[job.job_id] = chain
        return Start(job, tuple(zip(chain.servers, chain.blocks, strict=True)))

    def arrive(self, job: Job, now: float) -> list[Start]:
        chain = self._jffc.arrive(job)
        return [] if chain is None else [self._start(job, chain)]

    def complete(self, job: Job, now: float) -> list[Start]:
        chain = self._chain_of.pop(job.job_id)
        queued = self._jffc.complete(chain)
        return [] if queued is None else [self._start(queued, chain)]


class CachePools:
    """Each server's cache block-slots: free count and a FIFO of (job, slots) waiting for them."""

    def __init__(self, capacity: Mapping[str, int]) -> None:
        self.capacity = dict(capacity)
        self._free = dict(capacity)
        self._waiting: dict[str, deque[tuple[Job, int]]] = {name: deque() for name in capacity}

    def free(self, server: str) -> int:
        return self._free[server]

    def waiting(self, server: str) -> Sequence[tuple[Job, int]]:
        return self._waiting[server]

    def request(self, server: str, job: Job, slots: int) -> bool:
        """Take ``slots`` now if nobody waits ahead and they are free; else join the queue."""
        if slots > self.capacity[server]:
            raise ValueError(f"{server} has {self.capacity[server]} cache slots; a job cannot hold {slots}")
        if not self._waiting[server] and self._free[server] >= slots:
            self._free[server] -= slots
            return True
        self._waiting[server].append((job, slots))
        return False

    def release(self, server: str, slots: int) -> list[Job]:
        """Return ``slots`` and grant waiting jobs in FIFO order while the head fits."""
        self._free[server] += slots
        granted, queue = [], self._waiting[server]
        while queue and queue[0][1] <= self._free[server]:
            job, need = queue.popleft()
            self._free[server] -= need
            granted.append(job)
        return granted


class Router(Protocol):
    """Chooses a route per request from what the client can see."""

    def route(self, job: Job, now: float, pools: CachePools) -> list[Hop]: ...

    def finished(self, job: Job) -> None: ...


class RoutedDispatcher(Dispatcher):
    """Per-request routing with cache acquired hop by hop (see the module docstring)."""

    def __init__(self, router: Router, cache_capacity: Mapping[str, int]) -> None:
        self._router = router
        self.pools = CachePools(cache_capacity)
        self._hops: dict[int, list[Hop]] = {}
        self._acquired: dict[int, int] = {}

    def _advance(self, job: Job) -> list[Start]:
        """Acquire the job's remaining hops in order; start it once it holds them all."""
        hops = self._hops[job.job_id]
        while self._acquired[job.job_id] < len(hops):
            server, blocks = hops[self._acquired[job.job_id]]
            if not self.pools.request(server, job, blocks):
                return []
            self._acquired[job.job_id] += 1
        return [Start(job, tuple(hops))]

    def arrive(self, job: Job, now: float) -> list[Start]:
        self._hops[job.job_id] = self._router.route(job, now, self.pools)
        self._acquired[job.job_id] = 0
        return self._advance(job)

    def complete(self, job: Job, now: float) -> list[Start]:
        self._router.finished(job)
        hops = self._hops.pop(job.job_id)
        del self._acquired[job.job_id]
        starts: list[Start] = []
        for server, blocks in hops:
            for granted in self.pools.release(server, blocks):
                self._acquired[granted.job_id] += 1
                starts.extend(self._advance(granted))
        return starts
