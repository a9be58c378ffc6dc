"""This client's view of one swarm: which nodes it may route through, and how far away they are.

The view is re-read from the DHT every ``period_s`` and at once after a failure (coalesced: many
failures in a burst cause one read). Usable nodes are those the DHT still lists (expired records
are gone already), announced ``online`` (not joining, draining or offline), consistent with the
swarm's spec (``SwarmDHT.read_swarm`` drops the others) and not banned by this client. Round-trip
times come from ``rpc_info`` pings of nodes whose last ping is older than ``rtt_max_age_s``; a
node that does not answer a ping is banned like any failed node. Before each periodic read the
client re-dials its initial peers if its DHT lost them (``SwarmDHT.stay_joined``): after a
partition a client-mode peer is in nobody's routing table, so nobody else would reconnect it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from hivemind.p2p import P2P, PeerID
from hivemind.proto import runtime_pb2

from chainswarm.dht.records import NodeRecord
from chainswarm.dht.swarm import SwarmDHT
from chainswarm.dht.view import SwarmView
from chainswarm.routing.bans import BanList
from chainswarm.wire.service import BlockService

logger = logging.getLogger(__name__)

PING_TIMEOUT_S = 2.0
"""An ``rpc_info`` answer takes milliseconds; a node silent for seconds would stall every step."""

RTT_SMOOTHING = 0.3
"""Weight of a new RTT sample in the moving average (smooths jitter, follows real changes)."""


class RttTable:
    """Smoothed round-trip times to nodes, in seconds, with when each was last measured."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rtt: dict[str, float] = {}
        self._measured_at: dict[str, float] = {}

    def record(self, peer_id: str, rtt_s: float) -> None:
        old = self._rtt.get(peer_id)
        self._rtt[peer_id] = rtt_s if old is None else (1 - RTT_SMOOTHING) * old + RTT_SMOOTHING * rtt_s
        self._measured_at[peer_id] = self._clock()

    def stale(self, peer_ids: list[str], max_age_s: float) -> list[str]:
        """Those of ``peer_ids`` never measured or measured longer than ``max_age_s`` ago."""
        now = self._clock()
        return [p for p in peer_ids if now - self._measured_at.get(p, -float("inf")) > max_age_s]

    def snapshot(self) -> dict[str, float]:
        return dict(self._rtt)


async def ping(p2p: P2P, peer_id: str, timeout_s: float = PING_TIMEOUT_S) -> float:
    """Round-trip time of one ``rpc_info`` call, in seconds; raises on any failure."""
    stub = BlockService.get_stub(p2p, PeerID.from_base58(peer_id))
    began = time.perf_counter()
    await stub.rpc_info(runtime_pb2.ExpertRequest(), timeout=timeout_s)
    return time.perf_counter() - began


class SwarmWatcher:
    """Keeps the view fresh and calls ``on_refresh`` after each read. Use from one event loop."""

    def __init__(
        self,
        swarm: SwarmDHT,
        p2p: P2P,
        bans: BanList,
        on_refresh: Callable[[], None],
        *,
        period_s: float = 10.0,
        rtt_max_age_s: float = 60.0,
    ) -> None:
        self.swarm = swarm
        self.bans = bans
        self.rtts = RttTable()
        self.view: SwarmView | None = None
        self._p2p = p2p
        self._on_refresh = on_refresh
        self._period_s = period_s
        self._rtt_max_age_s = rtt_max_age_s
        self._inflight: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def usable_nodes(self) -> list[NodeRecord]:
        """Online, unbanned nodes of the last read, sorted by peer id."""
        if self.view is None:
            return []
        banned = self.bans.banned()
        return [n for n in self.view.online_nodes() if n.peer_id not in banned]

    async def refresh(self) -> None:
        """Read the swarm now; concurrent callers share one read."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._refresh())
        await asyncio.shield(self._inflight)

    def request_refresh(self) -> None:
        """Ask the background loop for a read soon, without waiting for it."""
        self._wake.set()

    async def run(self) -> None:
        """Refresh every ``period_s``, or sooner when asked; runs until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.swarm.stay_joined)  # re-dial a lost bootstrap first
            except Exception as e:
                logger.warning("checking the DHT's initial peers failed: %s", e)
            try:
                await self.refresh()
            except Exception as e:  # a DHT hiccup must not end the loop; the next period retries
                logger.warning("reading the swarm failed: %s", e)
            try:
                await asyncio.wait_for(self._wake.wait(), self._period_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _refresh(self) -> None:
        self.view = await asyncio.to_thread(self.swarm.read_swarm)
        await self._ping_stale()
        self._on_refresh()

    async def _ping_stale(self) -> None:
        peers = self.rtts.stale([n.peer_id for n in self.usable_nodes()], self._rtt_max_age_s)
        results = await asyncio.gather(*(ping(self._p2p, p) for p in peers), return_exceptions=True)
        for peer_id, result in zip(peers, results, strict=True):
            if isinstance(result, BaseException):
                ban_s = self.bans.ban(peer_id)
                logger.warning("node %s did not answer a ping (%s); banned for %.0f s", peer_id, result, ban_s)
            else:
                self.rtts.record(peer_id, result)

