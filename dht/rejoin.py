"""Re-dial a DHT peer's initial peers once they have dropped out of its routing table.

hivemind contacts ``initial_peers`` only while the DHT starts (``DHTNode.create`` pings them), and it
drops a peer from its routing table after one unanswered request. A bootstrap peer that restarts
(same identity, same address, empty routing table) is therefore never contacted again: the nodes
keep serving each other, but a client that joins through the bootstrap sees an empty swarm, for
good (measured: still nothing after 120 s; the pattern of Petals #254). p2pd's own bootstrap loop does not
help: it re-dials every 15 min, only below 4 connections, and never touches hivemind's routing table.

A check looks the initial peers' ids up in the routing table (local, no traffic) and pings the
missing ones. A ping that is answered puts the initial peer back into our table; a ping from a
server-mode peer also asks the pinged peer to add us, so a restarted bootstrap learns the swarm from
the nodes that re-dial it. Pings back off while the peer stays missing (:class:`RedialSchedule`).
The same check heals a peer cut off from everyone for a while (a partition, a suspended laptop):
its routing table empties, so its initial peers are missing too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from hivemind import DHT
from hivemind.dht.node import DHTNode
from hivemind.p2p import PeerID
from hivemind.utils.multiaddr import Multiaddr

from chainswarm.dht.peer import DEFAULT_CALL_TIMEOUT_S, run_in_dht

logger = logging.getLogger(__name__)

REDIAL_BASE_S = 8.0
"""First wait between re-dials of a missing initial peer. p2pd refuses to dial an address again
for 5 + (k - 1)² s after its k-th failed dial (go-libp2p's dial backoff, capped at 5 min; measured
here: refused for 5.5 s after one), so shorter waits only produce "dial backoff" failures. Doubling
from 8 s stays above it for the first 8 re-dials (about 6 minutes of outage)."""

REDIAL_CAP_S = 60.0
"""Longest wait between re-dials: a peer gone for good costs each node one ping a minute, and a
bootstrap serving a thousand nodes about 17 pings/s when it comes back."""


@dataclass(frozen=True)
class RedialReport:
    """What one check found and did."""

    # ids (base58) of initial peers that were not in the routing table
    missing: tuple[str, ...]
    # of those, the ones pinged (empty when the schedule said wait)
    pinged: tuple[str, ...]
    # of those pinged, the ones that answered
    answered: tuple[str, ...]
    # peers in the routing table before the pings
    routing_table_size: int


class RedialSchedule:
    """When to ping missing initial peers: at once on the first miss, then after ``base_s``,
    ``2 base_s``, ... up to ``cap_s``; immediate again once a check finds none missing.

    A ping that is answered also doubles the wait: a live peer that still stays out of our table
    (a full k-bucket) must not be pinged every period by every node. Pure; times in seconds from
    any monotonic clock.
    """

    def __init__(self, base_s: float = REDIAL_BASE_S, cap_s: float = REDIAL_CAP_S) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError(f"need 0 < base_s <= cap_s, got base_s={base_s}, cap_s={cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self._wait_s = 0.0
        self._next_at = float("-inf")

    def due(self, now: float) -> bool:
        return now >= self._next_at

    def record(self, report: RedialReport, now: float) -> None:
        if not report.missing:
            self._wait_s, self._next_at = 0.0, float("-inf")
        elif report.pinged:
            self._wait_s = min(self.cap_s, max(self.base_s, 2 * self._wait_s))
            self._next_at = now + self._wait_s

    @property
    def wait_s(self) -> float:
        """The wait after the last ping (0 when nothing is missing)."""
        return self._wait_s


class Rejoiner:
    """Keeps a DHT peer joined to its initial peers; call :meth:`check` every few seconds.

    Which process may call: the one that created ``dht``, from any thread (one check at a time).
    """

    def __init__(
        self,
        dht: DHT,
        *,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        schedule: RedialSchedule | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dht = dht
        self.timeout_s = timeout_s
        self.schedule = schedule or RedialSchedule()
        self.clock = clock
        self._lock = threading.Lock()
        self._lost_since: float | None = None

    def check(self) -> RedialReport:
        """Ping the initial peers missing from the routing table, if the schedule allows; logs a
        warning when peers go missing, info when they answer again. Raises ``TimeoutError`` when
        the DHT does not answer within ``timeout_s``."""
        with self._lock:
            now = self.clock()
            ping = self.schedule.due(now)
            report: RedialReport = run_in_dht(
                self.dht, partial(_redial_missing_initial_peers, ping=ping), self.timeout_s,
                "re-dialing the initial peers")
            self.schedule.record(report, self.clock())
            self._log(report, now)
            return report

    def _log(self, report: RedialReport, now: float) -> None:
        if not report.missing:
            self._lost_since = None
            return
        if self._lost_since is None:
            self._lost_since = now
            logger.warning("initial peer(s) %s dropped out of the DHT routing table (%d peers left); "
                           "re-dialing them", ", ".join(report.missing), report.routing_table_size)
        if report.answered:
            logger.info("initial peer(s) %s answered again after %.1f s; rejoined the swarm",
                        ", ".join(report.answered), now - self._lost_since)
            if len(report.answered) == len(report.missing):
                self._lost_since = None
        elif report.pinged:
            logger.debug("initial peer(s) %s did not answer; next try in %.0f s",
                         ", ".join(report.pinged), self.schedule.wait_s)


async def _redial_missing_initial_peers(dht: DHT, node: DHTNode, ping: bool) -> RedialReport:
    """Runs in the DHT process: find the initial peers missing from the routing table and, if
    ``ping``, ping them (an answer adds each side to the other's table)."""
    table = node.protocol.routing_table
    size = len(table.uid_to_peer_id)
    initial = {PeerID.from_base58(Multiaddr(str(m))["p2p"]) for m in dht.initial_peers or ()}
    missing = sorted((p for p in initial if p != node.peer_id and table.get(peer_id=p) is None),
                     key=PeerID.to_base58)
    pinged = missing if ping else []
    node_ids = await asyncio.gather(*(node.protocol.call_ping(peer_id) for peer_id in pinged))
    return RedialReport(
        missing=tuple(p.to_base58() for p in missing),
        pinged=tuple(p.to_base58() for p in pinged),
        answered=tuple(p.to_base58() for p, n in zip(pinged, node_ids, strict=True) if n is not None),
        routing_table_size=size,
    )
