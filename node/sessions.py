"""Inference sessions on a node: admission against the slot pool, per-session KV cache, expiry.

A session reserves ``(end - start) * batch_size`` block-slots when it opens (DESIGN.md, cache
slots) and releases them when it closes, fails, or is idle past ``session_timeout_s`` — so a
client that vanishes never leaks memory. Admission never over-commits: no free slot means an
immediate ``busy`` error carrying the free count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chainswarm.node.slots import SlotPool
from chainswarm.wire.messages import ErrorCode, OpenSession, RpcError


def session_key(peer: str, session_id: str) -> str:
    """A session's key on this node: the client's peer id and its own session id."""
    return f"{peer}/{session_id}"


@dataclass
class Session:
    session_id: str
    peer: str
    start: int
    end: int
    max_length: int
    batch_size: int
    cache: Any  # models.SpanCache: this session's keys and values
    steps: int = 0


class SessionTable:
    """Open sessions and their slot reservations. Call from the node's event loop only."""

    def __init__(
        self,
        pool: SlotPool,
        hosted: tuple[int, int],
        max_length: int,
        new_cache: Callable[[OpenSession], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.hosted = hosted
        self.max_length = max_length
        self.draining = False
        self._new_cache = new_cache
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, request: OpenSession, peer: str) -> Session:
        if self.draining:
            raise RpcError(ErrorCode.DRAINING, "node is leaving the swarm; use another chain")
        lo, hi = self.hosted
        if not lo <= request.start < request.end <= hi:
            raise RpcError(ErrorCode.NOT_HOSTED,
                           f"blocks [{request.start}, {request.end}) not within hosted [{lo}, {hi})")
        if request.max_length > self.max_length:
            raise RpcError(ErrorCode.BAD_REQUEST,
                           f"max_length {request.max_length} exceeds this swarm's {self.max_length}")
        key = session_key(peer, request.session_id)
        if key in self._sessions:
            raise RpcError(ErrorCode.BAD_REQUEST, f"session {request.session_id!r} is already open")
        needed = (request.end - request.start) * request.batch_size
        reservation = self.pool.reserve(key, needed, now=self._clock())
        if reservation is None:
            raise RpcError(ErrorCode.BUSY, f"no free cache slots ({self.pool.free} free, {needed} needed)",
                           slots_free=self.pool.free)
        try:
            cache = self._new_cache(request)
        except Exception:
            self.pool.release(key)
            raise
        session = Session(key, peer, request.start, request.end, request.max_length,
                          request.batch_size, cache)
        self._sessions[key] = session
        return session

    def touch(self, session: Session) -> None:
        """A step arrived: push the idle deadline; an expired session cannot come back."""
        if session.session_id not in self._sessions:
            raise RpcError(ErrorCode.BAD_REQUEST, "session expired after being idle; open a new one")
        self.pool.touch(session.session_id, now=self._clock())

    def close(self, session: Session) -> None:
        if self._sessions.pop(session.session_id, None) is not None:
            self.pool.release(session.session_id)
        session.cache.discard()

    def expire(self) -> list[str]:
        """Release sessions idle past the pool's timeout (their client vanished); their ids."""
        expired = self.pool.expire(now=self._clock())
        for key in expired:
            session = self._sessions.pop(key, None)
            if session is not None:
                session.cache.discard()
        return expired
