"""JFFC: Join-the-Fastest-Free-Chain (paper §3.3, Alg. 3) as a pure state machine.

State: Z_k, the jobs running on chain k (at most c_k), and one central FIFO queue. A job that
arrives starts at once on the fastest chain with a free slot, else it waits in the queue; when a
job completes on chain k, the head of the queue starts on k, else Z_k decreases. No migration.

No clock, no I/O: the simulator and the live client drive the same object and carry out what it
returns. Chains are identified by their position in the list given to the constructor; methods
that take a chain accept that index or the very Chain object from the list (by identity).
Jobs are opaque hashables.

For the live client, a chain can be *blocked*: a server answered "busy", so the chain counts as
full until one of its jobs completes or :meth:`JFFC.unblock` is called (e.g. on a swarm refresh).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable, Sequence

from .specs import Chain


class JFFC:
    """Dispatch over ``chains``; ties in rate μ_k go to the lower index (GCA lists fastest first)."""

    def __init__(self, chains: Sequence[Chain]):
        self.chains: tuple[Chain, ...] = tuple(chains)
        self._index = {id(k): i for i, k in enumerate(self.chains)}
        # rank 0 = fastest; a free chain waits in the heap under its rank
        order = sorted(range(len(self.chains)), key=lambda i: (-self.chains[i].rate, i))
        self._rank = [0] * len(self.chains)
        for rank, i in enumerate(order):
            self._rank[i] = rank
        self._order = order
        self._running = [0] * len(self.chains)
        self._blocked = [False] * len(self.chains)
        # ranks of chains that may have a free slot, each at most once (stale ones dropped on pop)
        self._free: list[int] = []
        self._in_heap = [False] * len(self.chains)
        self._queue: deque[Hashable] = deque()
        for i in range(len(self.chains)):
            self._offer(i)

    # -- views ---------------------------------------------------------------------------

    @property
    def busy(self) -> tuple[int, ...]:
        """Z_k: jobs running on each chain, in the constructor's order."""
        return tuple(self._running)

    @property
    def queue_length(self) -> int:
        return len(self._queue)

    @property
    def queued(self) -> tuple[Hashable, ...]:
        """Waiting jobs, head first."""
        return tuple(self._queue)

    def index(self, chain: Chain | int) -> int:
        """The position of ``chain`` (an index, or a Chain object from the list, by identity)."""
        if isinstance(chain, int):
            if not 0 <= chain < len(self.chains):
                raise IndexError(f"no chain {chain}; there are {len(self.chains)}")
            return chain
        try:
            return self._index[id(chain)]
        except KeyError:
            raise KeyError(f"chain {chain.servers} is not one of this JFFC's chain objects") from None

    def is_free(self, chain: Chain | int) -> bool:
        i = self.index(chain)
        return self._has_slot(i)

    # -- transitions ---------------------------------------------------------------------

    def arrive(self, job: Hashable) -> Chain | None:
        """A job arrives: the chain it starts on now, or None if it joins the back of the queue."""
        i = self._take_fastest_free()
        if i is None:
            self._queue.append(job)
            return None
        self._running[i] += 1
        return self.chains[i]

    def complete(self, chain: Chain | int) -> Hashable | None:
        """A job on ``chain`` finished: the queued job that starts on that chain now, or None (the
        slot is freed). Clears a block on the chain."""
        i = self.index(chain)
        if self._running[i] == 0:
            raise ValueError(f"chain {i} {self.chains[i].servers} has no running job to complete")
        self._blocked[i] = False
        if self._queue:
            return self._queue.popleft()
        self._running[i] -= 1
        self._offer(i)
        return None

    def reject(self, chain: Chain | int, job: Hashable) -> Chain | None:
        """``job`` was sent to ``chain`` but a server there answered "busy": block the chain, free
        the slot the job took, and start the job on the next fastest free chain, or put it at the
        *head* of the queue (it arrived before every job waiting there). Returns the new chain."""
        i = self.index(chain)
        if self._running[i] == 0:
            raise ValueError(f"chain {i} {self.chains[i].servers} has no running job to reject")
        self._running[i] -= 1
        self._blocked[i] = True
        j = self._take_fastest_free()
        if j is None:
            self._queue.appendleft(job)
            return None
        self._running[j] += 1
        return self.chains[j]

    def block(self, chain: Chain | int) -> None:
        """Treat ``chain`` as full until a completion on it or :meth:`unblock`."""
        self._blocked[self.index(chain)] = True

    def unblock(self, chain: Chain | int | None = None) -> list[tuple[Hashable, Chain]]:
        """Lift the block on ``chain`` (all chains if None) and start queued jobs on the slots
        that frees, fastest chain first: returns the (job, chain) pairs that start."""
        targets = range(len(self.chains)) if chain is None else [self.index(chain)]
        for i in targets:
            self._blocked[i] = False
            self._offer(i)
        started = []
        while self._queue and (i := self._take_fastest_free()) is not None:
            self._running[i] += 1
            started.append((self._queue.popleft(), self.chains[i]))
        return started

    def withdraw(self, job: Hashable) -> bool:
        """Remove a waiting job from the queue (e.g. its client went away); False if not queued."""
        try:
            self._queue.remove(job)
        except ValueError:
            return False
        return True

    # -- internals -----------------------------------------------------------------------

    def _has_slot(self, i: int) -> bool:
        return not self._blocked[i] and self._running[i] < self.chains[i].capacity

    def _offer(self, i: int) -> None:
        if self._has_slot(i) and not self._in_heap[i]:
            self._in_heap[i] = True
            heapq.heappush(self._free, self._rank[i])

    def _take_fastest_free(self) -> int | None:
        """The fastest chain with a free slot; drops it from the heap if this job fills it."""
        while self._free:
            i = self._order[self._free[0]]
            if self._has_slot(i):
                if self._running[i] + 1 >= self.chains[i].capacity:
                    heapq.heappop(self._free)
                    self._in_heap[i] = False
                return i
            heapq.heappop(self._free)
            self._in_heap[i] = False
        return None
