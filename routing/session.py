"""An inference session over a chain of nodes that survives node failures (DESIGN.md, Client rules 4).

The client sends a step to the first hop, which pushes its output to the next hop itself, and so
on (server-to-server push: one network leg per hop instead of a client round trip); every hop also
replies to the client, and where a push fails the client relays that output as Petals does. The
client keeps every hop's inputs, chunk by chunk with their positions. When a node fails, the
session bans it, asks the router for a replacement of that hop's blocks from the current view
(one node or several), and replays the hop's history there: each chunk again, at its own position, with the same chunking,
so the replacement's KV cache and its output are bit-for-bit what the failed node's would have
been. Downstream hops are kept; the generated text is the same as without the failure.

Petals' replacement session starts with no position set (bigscience-workshop/petals#587) and
re-sends history as one chunk; here positions travel with every chunk.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from hivemind.p2p import P2P

from chainswarm.routing.hop import Hop, HopFailed, HopStream, NodeBusy

logger = logging.getLogger(__name__)


class Router(Protocol):
    """What a session needs from the client: routes from the live view, and failure feedback."""

    def routes(self, start: int, end: int) -> list[list[Hop]]:
        """Candidate hop sequences covering blocks [start, end), fastest first, banned nodes excluded."""
        ...

    def report_failure(self, peer_id: str, stale_record: bool = False) -> None:
        """Ban ``peer_id`` (with back-off; only until the next view if its record was just stale)
        and schedule a refresh of the view."""
        ...

    def report_success(self, peer_id: str) -> None: ...

    async def refresh(self) -> None:
        """Re-read the swarm now (new nodes, expired records)."""
        ...


class ChainUnavailable(Exception):
    """No live nodes cover some blocks, even after refreshing the view until the deadline."""


@dataclass(frozen=True)
class SessionConfig:
    """Timeouts of one session, in seconds."""

    # A node silent this long is treated as failed; prefill of a long prompt must fit in it.
    step_timeout_s: float = 30.0
    # How long a failover keeps trying (refreshing the view) before the request fails.
    failover_timeout_s: float = 60.0
    # Pause between attempts when no replacement is available yet (all busy or none announced).
    retry_delay_s: float = 0.5
    # Nodes send their output straight to the next hop (server-to-server push), saving a client
    # round trip per hop; every hop still replies to the client, which keeps the history for failover.
    push: bool = True


@dataclass
class _Chunk:
    position: int
    hidden: torch.Tensor


@dataclass
class _HopState:
    stream: HopStream
    history: list[_Chunk] = field(default_factory=list)  # inputs sent to this hop, in order

    @property
    def hop(self) -> Hop:
        return self.stream.hop


class ChainSession:
    """Hidden states in, the chain's output out, one step at a time. Use from one task.

    Open with ``await ChainSession.open(...)`` (raises :class:`NodeBusy` if a node of the chain
    is full), then ``step`` once per chunk of tokens, then ``close``.
    """

    def __init__(self, p2p: P2P, router: Router, max_length: int, config: SessionConfig) -> None:
        self._p2p = p2p
        self._router = router
        self._max_length = max_length
        self._config = config
        self._session_id = uuid.uuid4().hex
        self._streams_opened = 0
        self._hops: list[_HopState] = []
        self.position = 0
        self.failovers = 0
        self.pushed_hops = 0  # hop inputs that the previous node pushed instead of the client sending them

    @classmethod
    async def open(
        cls, p2p: P2P, router: Router, hops: Sequence[Hop], max_length: int, config: SessionConfig
    ) -> ChainSession:
        """Open every hop at once. A failed node is replaced; a busy one closes the session and
        raises :class:`NodeBusy`, so the dispatcher can try another chain."""
        self = cls(p2p, router, max_length, config)
        streams = [self._stream(hop) for hop in hops]
        try:
            results = await asyncio.gather(*(s.open(max_length) for s in streams), return_exceptions=True)
            problem = next((r for r in results if isinstance(r, BaseException) and not isinstance(r, HopFailed)),
                           None)
            if problem is not None:
                raise problem
            for stream, result in zip(streams, results, strict=True):
                if isinstance(result, HopFailed):
                    logger.warning("%s; replacing it", result)
                    self._router.report_failure(stream.hop.peer_id, result.stale_record)
                    replacement, _ = await self._replace(stream.hop, [])
                    self._hops.extend(replacement)
                else:
                    self._router.report_success(stream.hop.peer_id)
                    self._hops.append(_HopState(stream))
        except BaseException:
            await asyncio.gather(*(s.abort() for s in streams), *(h.stream.abort() for h in self._hops))
            raise
        return self

    @property
    def hops(self) -> list[Hop]:
        """The hops in use now (after any replacements)."""
        return [h.hop for h in self._hops]

    async def step(self, hidden: torch.Tensor) -> torch.Tensor:
        """Run hidden states (batch, T, hidden) for the next T positions through the chain."""
        if self.position + hidden.shape[1] > self._max_length:
            raise ValueError(f"{self.position + hidden.shape[1]} tokens exceed the session's {self._max_length}")
        position, x, i = self.position, hidden, 0
        while i < len(self._hops):
            state = self._hops[i]
            state.history.append(_Chunk(position, x))
            try:
                targets = self._push_targets(i + 1)
                x, pushed = await state.stream.receive_step(
                    state.stream.send_step(x, position, targets), x.shape)
                i += 1
                while pushed and i < len(self._hops):  # the node sent x on itself: the next reply is due
                    state = self._hops[i]
                    state.history.append(_Chunk(position, x))
                    x, pushed = await state.stream.receive_step(targets[0]["step_id"], x.shape)
                    targets = targets[1:]
                    self.pushed_hops += 1
                    i += 1
            except HopFailed as e:
                logger.warning("%s; replacing it and replaying %d chunk(s)", e, len(state.history))
                self._router.report_failure(state.hop.peer_id, e.stale_record)
                replacement, x = await self._replace(state.hop, state.history)
                self._hops[i : i + 1] = replacement
                i += len(replacement)
        self.position += hidden.shape[1]
        return x

    def _push_targets(self, first: int) -> list[dict]:
        """``push_to`` for the hops from ``first`` on (wire.messages.PushTarget), each with the step id
        its reply will carry; empty when push is off."""
        if not self._config.push:
            return []
        return [{"peer_id": h.hop.peer_id, "session_id": h.stream.session_id,
                 "step_id": h.stream.reserve_step_id()} for h in self._hops[first:]]

    async def close(self) -> None:
        await asyncio.gather(*(h.stream.close() for h in self._hops))
        self._hops = []

    def _stream(self, hop: Hop) -> HopStream:
        """A stream with its own session id: one node may serve two hops of a chain after a failover."""
        self._streams_opened += 1
        session_id = f"{self._session_id}-{self._streams_opened}"
        return HopStream(self._p2p, hop, session_id, self._config.step_timeout_s)

    async def _replace(
        self, failed: Hop, history: list[_Chunk]
    ) -> tuple[list[_HopState], torch.Tensor | None]:
        """New hops for ``failed``'s blocks with ``history`` replayed, and the output of the
        replay's last chunk (None without history)."""
        deadline = time.monotonic() + self._config.failover_timeout_s
        self.failovers += 1
        while True:
            failed_again = False
            for route in self._router.routes(failed.start, failed.end):
                try:
                    return await self._open_and_replay(route, history)
                except NodeBusy as e:
                    logger.info("replacement %s is busy; trying the next route", e.hop)
                except HopFailed as e:
                    logger.warning("replacement %s", e)
                    self._router.report_failure(e.hop.peer_id, e.stale_record)
                    failed_again = True
                    break  # routes change once that node is banned
            if time.monotonic() > deadline:
                raise ChainUnavailable(
                    f"no live node could take over blocks [{failed.start}, {failed.end}) within "
                    f"{self._config.failover_timeout_s:g} s; the swarm may have lost every node that hosts them"
                )
            if not failed_again:
                await asyncio.sleep(self._config.retry_delay_s)
                await self._router.refresh()

    async def _open_and_replay(
        self, route: list[Hop], history: list[_Chunk]
    ) -> tuple[list[_HopState], torch.Tensor | None]:
        streams = [self._stream(hop) for hop in route]
        x = None
        try:
            for stream in streams:
                await stream.open(self._max_length)
            states = [_HopState(s) for s in streams]
            for chunk in history:
                x = chunk.hidden
                for state in states:
                    state.history.append(_Chunk(chunk.position, x))
                    x = await state.stream.step(x, chunk.position)
        except BaseException:
            await asyncio.gather(*(s.abort() for s in streams))
            raise
        for hop in route:
            self._router.report_success(hop.peer_id)
        return states, x
