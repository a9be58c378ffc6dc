"""Temporary bans of failing nodes, with exponential back-off (DESIGN.md, Client rules 4).

A node that fails (an error other than busy, a timeout, a dropped stream) is left out of the
client's view for ``base_s``; every further failure before a success doubles the ban (capped at
``max_s``), so a flapping node costs less and less. A success clears its record. Like hivemind's
``Blacklist`` that Petals uses (base 15 s, rate 2), but with an injectable clock so tests never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_BAN_S = 15.0
"""Petals' ``ban_timeout``: long enough to outlast a restart's DHT record, short enough to forgive."""

MAX_BAN_S = 600.0
"""A node failing for ten minutes straight is gone; longer bans only delay its return after a fix."""


@dataclass
class _Strike:
    failures: int
    until: float


@dataclass
class BanList:
    """Peer ids banned until a time on ``clock``; call from one event loop (no locking)."""

    base_s: float = DEFAULT_BAN_S
    backoff: float = 2.0
    max_s: float = MAX_BAN_S
    clock: Callable[[], float] = time.monotonic
    _strikes: dict[str, _Strike] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.backoff < 1 or self.max_s < self.base_s:
            raise ValueError("need base_s > 0, backoff >= 1 and max_s >= base_s")

    def ban(self, peer_id: str) -> float:
        """Record a failure of ``peer_id``; returns the length of its ban in seconds."""
        strike = self._strikes.get(peer_id)
        failures = 1 if strike is None else strike.failures + 1
        duration_s = min(self.base_s * self.backoff ** (failures - 1), self.max_s)
        self._strikes[peer_id] = _Strike(failures, self.clock() + duration_s)
        return duration_s

    def hold(self, peer_id: str, duration_s: float) -> None:
        """Keep ``peer_id`` out for ``duration_s`` without a strike (its record was stale, it did not fail)."""
        strike = self._strikes.get(peer_id)
        until = self.clock() + duration_s
        if strike is None:
            self._strikes[peer_id] = _Strike(0, until)
        elif strike.until < until:
            self._strikes[peer_id] = _Strike(strike.failures, until)

    def success(self, peer_id: str) -> None:
        """``peer_id`` served a request: forget its failures."""
        self._strikes.pop(peer_id, None)

    def is_banned(self, peer_id: str) -> bool:
        strike = self._strikes.get(peer_id)
        return strike is not None and self.clock() < strike.until

    def banned(self) -> frozenset[str]:
        """Peer ids banned right now."""
        now = self.clock()
        return frozenset(p for p, s in self._strikes.items() if now < s.until)
