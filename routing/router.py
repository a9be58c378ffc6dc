"""The client's routing: view → GCA chains → JFFC dispatch → sessions that fail over.

``SwarmRouter`` owns the live state (view, bans, round-trip times, dispatcher) and is the
``Router`` that sessions report failures to. ``router.session(max_length)`` is the one entry
point for requests: it waits for a chain (JFFC, FIFO), opens an inference session on it, moves to
the next chain when a node is busy, and on exit closes the session and frees the chain's slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum

from hivemind.p2p import P2P
from hivemind.utils import get_dht_time

from chainswarm.dht.records import LoadRecord, SwarmSpec
from chainswarm.dht.swarm import SwarmDHT
from chainswarm.placement.specs import Chain
from chainswarm.routing.bans import DEFAULT_BAN_S, BanList
from chainswarm.routing.chains import Workload, chain_hops, compose_chains, compose_routes
from chainswarm.routing.dispatch import ArrivalMeter, Dispatcher, Lease
from chainswarm.routing.hop import Hop, NodeBusy
from chainswarm.routing.petals import PETALS_POLL_S, petals_route
from chainswarm.routing.session import ChainSession, ChainUnavailable, SessionConfig
from chainswarm.routing.view import SwarmWatcher

logger = logging.getLogger(__name__)

STALE_RECORD_HOLD_S = 5.0
"""How long a node that answered ``not_hosted`` or ``draining`` is skipped: the view is re-read at
once, and a node announces at once when its span or state changes, so this covers one DHT read."""


class RoutingPolicy(StrEnum):
    """How requests are put on chains."""

    JFFC = "jffc"  # GCA chains, JFFC with a FIFO queue (paper §3.2–3.3): the default
    PETALS = "petals"  # Petals' per-request min-latency route, no queue (baseline for benchmarks)


@dataclass(frozen=True)
class RoutingConfig:
    """Tunables of the client's routing; times in seconds."""

    # Re-read the swarm this often (nodes re-announce every ~10 s, so faster buys nothing).
    refresh_period_s: float = 10.0
    # Re-ping a node after this long; RTTs drift slowly and pings cost a round trip each.
    rtt_max_age_s: float = 60.0
    # The request size chains are ranked for (τ^c, τ^p; paper §1).
    workload: Workload = field(default_factory=Workload)
    session: SessionConfig = field(default_factory=SessionConfig)
    # A request waits at most this long for a chain (queue plus "busy" retries) before failing.
    dispatch_timeout_s: float = 600.0
    # ...but only this long while no node of the model is announced at all (wrong swarm or model).
    no_swarm_timeout_s: float = 30.0
    # Publish this client's arrival rate this often, averaged over the last window.
    load_period_s: float = 10.0
    load_window_s: float = 60.0
    ban_s: float = DEFAULT_BAN_S
    policy: RoutingPolicy = RoutingPolicy.JFFC


class SwarmRouter:
    """Routing state of one client for one swarm; create, ``await start()``, use, ``await stop()``."""

    def __init__(self, swarm: SwarmDHT, p2p: P2P, config: RoutingConfig) -> None:
        self.config = config
        self.p2p = p2p
        self.client_id = p2p.peer_id.to_base58()
        self.bans = BanList(base_s=config.ban_s)
        self.pushed_hops = 0  # over finished sessions: hop inputs that nodes pushed to each other
        self.watcher = SwarmWatcher(
            swarm, p2p, self.bans, self._rebuild,
            period_s=config.refresh_period_s, rtt_max_age_s=config.rtt_max_age_s,
        )
        self.dispatcher = Dispatcher()
        self.arrivals = ArrivalMeter(config.load_window_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._freed: dict[str, asyncio.Condition] = {}  # Petals policy: requests waiting for a node

    async def start(self) -> None:
        """Read the swarm once, then keep it fresh and publish the load in the background."""
        await self.watcher.refresh()
        self._tasks = [asyncio.create_task(self.watcher.run()), asyncio.create_task(self._publish_load())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @property
    def spec(self) -> SwarmSpec | None:
        view = self.watcher.view
        return view.spec if view is not None else None

    @property
    def chains(self) -> tuple[Chain, ...]:
        return self.dispatcher.chains

    @asynccontextmanager
    async def session(self, max_length: int) -> AsyncIterator[ChainSession]:
        """An open session on a chain chosen by JFFC; its slot is freed on exit."""
        self.arrivals.record()
        opener = self._open_petals if self.config.policy is RoutingPolicy.PETALS else self._open
        lease, session = await self._wait_for_chain(opener(max_length))
        try:
            yield session
        finally:
            self.pushed_hops += session.pushed_hops
            try:
                await session.close()
            finally:
                if lease is not None:
                    self.dispatcher.release(lease)
                await self._wake_waiters(session.hops)

    async def _wait_for_chain(self, opening: Awaitable[tuple[Lease | None, ChainSession]]
                              ) -> tuple[Lease | None, ChainSession]:
        """``opening``'s result within ``dispatch_timeout_s``, or ``no_swarm_timeout_s`` while no node
        of the model is announced; past either, ChainUnavailable saying why."""
        task = asyncio.ensure_future(opening)
        started = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait([task], timeout=1.0)
                if done:
                    return task.result()
                waited = time.monotonic() - started
                if waited > self.config.dispatch_timeout_s or (
                        self.spec is None and waited > self.config.no_swarm_timeout_s):
                    raise ChainUnavailable(self._why_no_chain())
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # -- Router protocol (for sessions) --------------------------------------------------

    def routes(self, start: int, end: int) -> list[list[Hop]]:
        spec = self.spec
        if spec is None:
            return []
        return compose_routes(self.watcher.usable_nodes(), spec, self.watcher.rtts.snapshot(),
                              self.config.workload, start, end)

    def report_failure(self, peer_id: str, stale_record: bool = False) -> None:
        if stale_record:  # it moved or is leaving: its next record says so, no strike against it
            self.bans.hold(peer_id, STALE_RECORD_HOLD_S)
            logger.info("node %s no longer serves what its record says; skipped until the view is re-read",
                        peer_id)
        else:
            logger.info("banned node %s for %.0f s", peer_id, self.bans.ban(peer_id))
        self._rebuild()
        self.watcher.request_refresh()

    def report_success(self, peer_id: str) -> None:
        self.bans.success(peer_id)

    async def refresh(self) -> None:
        """Re-read the swarm; a failed read is logged and the last view kept (a failover must not
        fail because the DHT hiccuped)."""
        try:
            await self.watcher.refresh()
        except Exception as e:  # DHT timeouts and pipe errors alike: the periodic loop retries
            logger.warning("reading the swarm failed, keeping the last view: %s", e)

    # -- internals -----------------------------------------------------------------------

    async def _open(self, max_length: int) -> tuple[Lease, ChainSession]:
        lease = await self.dispatcher.acquire()
        while True:
            try:
                session = await ChainSession.open(
                    self.p2p, self, chain_hops(lease.chain), max_length, self.config.session
                )
                return lease, session
            except NodeBusy as e:
                logger.info("%s; trying the next chain", e)
                lease = await self.dispatcher.reject(lease)
            except BaseException:
                self.dispatcher.release(lease)
                raise

    async def _open_petals(self, max_length: int) -> tuple[None, ChainSession]:
        """Petals' policy: a min-latency route per request, then wait there until admitted."""
        route = None
        while route is None:
            spec = self.spec
            if spec is not None:
                route = petals_route(self.watcher.usable_nodes(), spec.num_blocks, self.watcher.rtts.snapshot())
            if route is None:
                await asyncio.sleep(self.config.refresh_period_s)
        while True:
            try:
                return None, await ChainSession.open(self.p2p, self, route, max_length, self.config.session)
            except NodeBusy as e:  # wait "in the node's queue": until one of our sessions there ends
                freed = self._freed.setdefault(e.hop.peer_id, asyncio.Condition())
                async with freed:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(freed.wait(), PETALS_POLL_S)

    async def _wake_waiters(self, hops: list[Hop]) -> None:
        """A session ended: one request waiting for each of its nodes may try again (FIFO)."""
        for hop in hops:
            freed = self._freed.get(hop.peer_id)
            if freed is not None:
                async with freed:
                    freed.notify(1)

    def _rebuild(self) -> None:
        """Recompose the chains from the current view (after a read or a ban)."""
        spec = self.spec
        if spec is None:
            self.dispatcher.set_chains([])
            return
        chains = compose_chains(self.watcher.usable_nodes(), spec, self.watcher.rtts.snapshot(),
                                self.config.workload)
        if [c.servers for c in chains] != [c.servers for c in self.dispatcher.chains]:
            logger.info("%d chain(s): %s", len(chains), "; ".join(
                f"{' → '.join(str(h) for h in chain_hops(c))} ×{c.capacity}" for c in chains[:8]))
        self.dispatcher.set_chains(chains)

    def _why_no_chain(self) -> str:
        view = self.watcher.view
        if view is None or view.spec is None:
            return "no node of this model is announced in the DHT; check --initial-peers and the model"
        covered = [0] * view.spec.num_blocks
        for node in self.watcher.usable_nodes():
            for block in range(node.start, min(node.end, len(covered))):
                covered[block] += 1
        missing = [b for b, n in enumerate(covered) if n == 0]
        if missing:
            return f"no usable node hosts blocks {_ranges(missing)} (of {len(covered)}); wait for nodes to join"
        return (f"waited {self.config.dispatch_timeout_s:g} s for a free chain; the swarm is overloaded "
                f"({self.dispatcher.queue_length} request(s) queued)")

    async def _publish_load(self) -> None:
        while True:
            await asyncio.sleep(self.config.load_period_s)
            record = LoadRecord(client_id=self.client_id, arrival_rate=self.arrivals.rate(),
                                window_s=self.config.load_window_s, updated_at=get_dht_time())
            try:
                await asyncio.to_thread(self.watcher.swarm.publish_load, record, 3 * self.config.load_period_s)
            except Exception as e:  # demand is advisory: a failed publish is retried next period
                logger.warning("publishing the arrival rate failed: %s", e)


def _ranges(blocks: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    runs: list[list[int]] = []
    for b in blocks:
        if runs and runs[-1][1] == b - 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs)
