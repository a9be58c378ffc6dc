"""The node's KV-cache slot pool: integer accounting of block-slots held by open sessions.

A node hosting m blocks with memory M keeps ⌊(M − s_m·m)/s_c⌋ block-slots (DESIGN.md, the model
of the paper); a session that runs k of the node's blocks holds k of them from open to close.
This module only counts: tensors live elsewhere, keyed by session id. "Does not fit" is a
return value (``reserve`` gives None, the handler answers "busy" with ``free``), never an
exception; releasing what is not held is a bug and raises.

Sessions whose client vanished must not leak slots: every reservation carries a deadline that
``touch`` pushes forward on each step and ``expire`` enforces. Time is always passed in (DHT or
monotonic seconds, the caller's choice but one clock per pool), so tests need no sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

DEFAULT_IDLE_TIMEOUT_S = 60.0
"""A session with no step for this long is presumed abandoned; generous next to a decode step
(milliseconds to a second) so that a slow client is not cut off."""


@dataclass(frozen=True)
class Reservation:
    """``num_blocks`` block-slots held by ``session_id`` since ``reserved_at``."""

    session_id: str
    num_blocks: int
    reserved_at: float


class SlotPool:
    """``total_slots`` block-slots shared by sessions; not thread-safe (one event loop owns it)."""

    def __init__(self, total_slots: int, idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S) -> None:
        if type(total_slots) is not int or total_slots < 0:
            raise ValueError(f"total_slots must be an int >= 0, got {total_slots!r}")
        if not idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s must be > 0, got {idle_timeout_s!r}")
        self._total = total_slots
        self.idle_timeout_s = idle_timeout_s
        self._in_use = 0
        self._sessions: dict[str, Reservation] = {}
        self._deadlines: dict[str, float] = {}

    @property
    def total(self) -> int:
        """Block-slots the node offers."""
        return self._total

    @property
    def in_use(self) -> int:
        """Block-slots held by open sessions."""
        return self._in_use

    @property
    def free(self) -> int:
        """Block-slots a new session may take now."""
        return self._total - self._in_use

    @property
    def sessions(self) -> Mapping[str, Reservation]:
        """Open sessions by id (a read-only live view)."""
        return MappingProxyType(self._sessions)

    def reserve(self, session_id: str, num_blocks: int, now: float) -> Reservation | None:
        """Hold ``num_blocks`` block-slots for ``session_id``, or None if fewer are free.

        None also when ``num_blocks > total`` (it can never fit; compare with ``total`` to tell a
        bad request from a busy node). Raises ValueError for a session id already open or
        ``num_blocks < 1``: both are caller bugs or bad requests, not load.
        """
        if type(num_blocks) is not int or num_blocks < 1:
            raise ValueError(f"num_blocks must be an int >= 1, got {num_blocks!r}")
        if session_id in self._sessions:
            raise ValueError(f"session {session_id!r} already holds slots")
        if num_blocks > self.free:
            return None
        reservation = Reservation(session_id, num_blocks, now)
        self._sessions[session_id] = reservation
        self._deadlines[session_id] = now + self.idle_timeout_s
        self._in_use += num_blocks
        return reservation

    def touch(self, session_id: str, now: float) -> None:
        """The session is alive at ``now``: move its deadline to ``now + idle_timeout_s``."""
        self._require(session_id)
        self._deadlines[session_id] = max(self._deadlines[session_id], now + self.idle_timeout_s)

    def release(self, session_id: str) -> Reservation:
        """Free the session's slots; KeyError if it holds none (double release or expired)."""
        reservation = self._require(session_id)
        del self._sessions[session_id], self._deadlines[session_id]
        self._in_use -= reservation.num_blocks
        return reservation

    def expire(self, now: float) -> list[str]:
        """Release every session whose deadline is not after ``now``; their ids, oldest first."""
        stale = sorted((d, sid) for sid, d in self._deadlines.items() if d <= now)
        for _, session_id in stale:
            self.release(session_id)
        return [session_id for _, session_id in stale]

    def holds(self, reservation: Reservation) -> bool:
        """Whether this exact reservation is still open (not released, not expired)."""
        return self._sessions.get(reservation.session_id) is reservation

    @contextmanager
    def session(self, session_id: str, num_blocks: int, now: float) -> Iterator[Reservation | None]:
        """``reserve`` for a ``with`` block (also fine inside ``async def`` handlers): yields the
        reservation or None (busy), and on any exit releases it unless ``expire`` already did."""
        reservation = self.reserve(session_id, num_blocks, now)
        try:
            yield reservation
        finally:
            if reservation is not None and self.holds(reservation):
                self.release(session_id)

    def _require(self, session_id: str) -> Reservation:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise KeyError(f"session {session_id!r} holds no slots (released or expired?)") from None
