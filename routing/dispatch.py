"""JFFC dispatch for asyncio tasks: the pure ``placement.JFFC`` plus waiting, cancellation, refresh.

Each request ``acquire``s a :class:`Lease` on a chain — at once on the fastest chain with a free
slot, else after waiting in the FIFO queue (paper §3.3, Alg. 3) — and ``release``s it when done,
which hands the slot to the head of the queue. A node that answers "busy" makes the chain count as
full until a completion on it or the next refresh (``reject``), and the request moves to the next
fastest free chain or back to the *head* of the queue. A request cancelled while waiting leaves
the queue.

When the swarm changes, ``set_chains`` builds a new JFFC over the new chains. Requests in flight
stay counted on the new chain with the same servers and blocks, so a refresh never over-admits;
those whose chain disappeared are no longer counted (their nodes left or moved).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chainswarm.placement.jffc import JFFC
from chainswarm.placement.specs import Chain

logger = logging.getLogger(__name__)

ChainKey = tuple[tuple[str, ...], tuple[int, ...]]


def chain_key(chain: Chain) -> ChainKey:
    """What makes two chains the same route: their servers and the blocks each computes."""
    return chain.servers, chain.blocks


@dataclass(eq=False)
class Lease:
    """One request's claim on one slot of ``chain``."""

    chain: Chain
    _owner: JFFC | None  # the JFFC that counts this lease, None once no JFFC does


@dataclass(eq=False)
class _Ticket:
    """A request waiting in the queue: the JFFC job object."""

    future: asyncio.Future[Chain] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Dispatcher:
    """JFFC over the current chains; call from one event loop."""

    def __init__(self, chains: Sequence[Chain] = ()) -> None:
        self._jffc = JFFC(chains)
        self._leases: set[Lease] = set()

    @property
    def chains(self) -> tuple[Chain, ...]:
        return self._jffc.chains

    @property
    def queue_length(self) -> int:
        return self._jffc.queue_length

    @property
    def running(self) -> dict[ChainKey, int]:
        """Requests in flight per chain (Z_k), by chain key."""
        return {chain_key(k): z for k, z in zip(self._jffc.chains, self._jffc.busy, strict=True)}

    def is_free(self, chain: Chain) -> bool:
        """Whether ``chain`` (one of ``chains``) would take a request now: below capacity, not busy."""
        return self._jffc.is_free(chain)

    async def acquire(self) -> Lease:
        """A slot on the fastest free chain, waiting in FIFO order while none is free."""
        ticket = _Ticket()
        chain = self._jffc.arrive(ticket)
        if chain is None:
            chain = await self._wait(ticket)
        return self._lease(chain)

    def release(self, lease: Lease) -> None:
        """The request is done: its slot goes to the head of the queue, or becomes free."""
        if lease not in self._leases:
            return
        self._leases.discard(lease)
        if lease._owner is self._jffc:
            self._hand_over(self._jffc.complete(lease.chain), lease.chain)

    async def reject(self, lease: Lease) -> Lease:
        """A node of ``lease.chain`` is busy: mark that chain full and take the next free slot
        (waiting at the head of the queue if none)."""
        self._leases.discard(lease)
        if lease._owner is not self._jffc:  # a refresh happened meanwhile: start over
            return await self.acquire()
        ticket = _Ticket()
        chain = self._jffc.reject(lease.chain, ticket)
        if chain is None:
            chain = await self._wait(ticket)
        return self._lease(chain)

    def set_chains(self, chains: Sequence[Chain]) -> None:
        """Dispatch over ``chains`` from now on; lifts every "busy" mark (a refresh)."""
        old = self._jffc
        if [(chain_key(k), k.capacity) for k in chains] == [(chain_key(k), k.capacity) for k in old.chains]:
            self._start_all(old.unblock())
            return
        new = JFFC(chains)
        self._adopt(new)
        self._jffc = new
        for ticket in old.queued:
            chain = new.arrive(ticket)
            if chain is not None:
                self._hand_over(ticket, chain)

    def _adopt(self, new: JFFC) -> None:
        """Count the leases in flight on ``new``'s chain with the same key (up to its capacity).

        JFFC has no "put a job on chain k" transition, so: block every chain, then for each
        chain with leases unblock it alone and let that many placeholder jobs arrive.
        """
        wanted = Counter(chain_key(lease.chain) for lease in self._leases)
        for i in range(len(new.chains)):
            new.block(i)
        by_key = {chain_key(k): i for i, k in enumerate(new.chains)}
        pending = {key: deque(lease for lease in self._leases if chain_key(lease.chain) == key) for key in wanted}
        for key, leases in pending.items():
            i = by_key.get(key)
            for lease in leases:
                lease._owner = None
            if i is None:
                continue
            new.unblock(i)
            while leases and new.is_free(i):
                lease = leases.popleft()
                assert new.arrive(lease) is new.chains[i], "only chain i is unblocked"
                lease.chain, lease._owner = new.chains[i], new
            new.block(i)
        new.unblock()

    def _lease(self, chain: Chain) -> Lease:
        lease = Lease(chain, self._jffc)
        self._leases.add(lease)
        return lease

    async def _wait(self, ticket: _Ticket) -> Chain:
        try:
            return await ticket.future
        except asyncio.CancelledError:
            if ticket.future.done() and not ticket.future.cancelled():
                # a slot was handed over just before the cancellation: pass it on
                self.release(self._lease(ticket.future.result()))
            else:
                self._jffc.withdraw(ticket)
            raise

    def _hand_over(self, job: object, chain: Chain) -> None:
        """Start ``job`` (a ticket from the queue, or None) on ``chain``; skip cancelled waiters."""
        while job is not None:
            assert isinstance(job, _Ticket)
            if not job.future.cancelled():
                job.future.set_result(chain)
                return
            job = self._jffc.complete(chain)

    def _start_all(self, started: list[tuple[object, Chain]]) -> None:
        for job, chain in started:
            self._hand_over(job, chain)


class ArrivalMeter:
    """Recent arrival rate λ (requests/s) over a sliding window, for the DHT load key."""

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        self._clock = clock
        self._started = clock()
        self._arrivals: deque[float] = deque()

    def record(self) -> None:
        self._arrivals.append(self._clock())

    def rate(self) -> float:
        """Arrivals in the last ``window_s`` divided by the window (or the time since start, if shorter)."""
        now = self._clock()
        while self._arrivals and self._arrivals[0] <= now - self.window_s:
            self._arrivals.popleft()
        span_s = min(self.window_s, now - self._started)
        return len(self._arrivals) / span_s if span_s > 0 else 0.0
