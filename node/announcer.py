"""Keeps the node's DHT record fresh: every period P (expiring after 2–3 P), at once on a state
change, and soon after the free-slot count moves noticeably, so clients route around full nodes.
Each period also re-dials the initial peers if they were lost (``SwarmDHT.stay_joined``), so a
restarted bootstrap peer learns about the node again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chainswarm.dht.records import NodeRecord, SwarmSpec
from chainswarm.dht.swarm import SwarmDHT

logger = logging.getLogger(__name__)

# Re-announce early when free slots moved by this fraction of the total since the last record.
SLOT_CHANGE_FRACTION = 0.1
POLL_S = 0.25


class Announcer:
    def __init__(self, swarm: SwarmDHT, spec: SwarmSpec, record: Callable[[], NodeRecord],
                 period_s: float, expiration_s: float) -> None:
        self._swarm = swarm
        self._spec = spec
        self._record = record
        self._period_s = period_s
        self._expiration_s = expiration_s
        self._wake = asyncio.Event()
        self.last: NodeRecord | None = None

    def trigger(self) -> None:
        """Announce now (a state change), without waiting for the period."""
        self._wake.set()

    async def announce(self) -> None:
        record = self._record()
        ok = await asyncio.to_thread(self._swarm.announce_node, record, self._expiration_s)
        await asyncio.to_thread(self._swarm.announce_spec, self._spec, self._expiration_s)
        if not ok:
            logger.warning("no DHT peer accepted our record; will retry in %.1f s", self._period_s)
        self.last = record

    async def run(self) -> None:
        """Announce until cancelled; DHT errors are logged and retried, never fatal."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if self._wake.is_set() or loop.time() >= next_at or self._slots_moved():
                self._wake.clear()
                await self._stay_joined()  # first, so that the store reaches a re-dialed peer
                try:
                    await self.announce()
                except Exception as e:  # a flaky DHT must not take the node down
                    logger.warning("announce failed: %s", e)
                next_at = loop.time() + self._period_s
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            except TimeoutError:
                pass

    async def _stay_joined(self) -> None:
        try:
            await asyncio.to_thread(self._swarm.stay_joined)
        except Exception as e:  # as for announce: logged, retried next period
            logger.warning("checking the DHT's initial peers failed: %s", e)

    def _slots_moved(self) -> bool:
        if self.last is None:
            return True
        now = self._record()
        total = max(1, now.cache_slots_total)
        moved = abs(now.cache_slots_free - self.last.cache_slots_free)
        went_full = (now.cache_slots_free == 0) != (self.last.cache_slots_free == 0)
        return went_full or moved >= SLOT_CHANGE_FRACTION * total
