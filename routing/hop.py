"""One hop of a chain: an ``rpc_inference`` stream to one node for its blocks [start, end).

Every way a node can fail this client — an error reply, a timeout, a dropped stream, a malformed
reply, a dial error — becomes :class:`HopFailed`, so the session above has one thing to catch and
fail over on. ``busy`` is not a failure (the node is healthy, just full): it is :class:`NodeBusy`.
``bad_request`` means this client sent something no node would accept; it is re-raised as the
``RpcError`` it is, because retrying elsewhere would fail the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hivemind.p2p import P2P, PeerID
from hivemind.proto import runtime_pb2

from chainswarm.wire.framing import encode, read_message
from chainswarm.wire.messages import ErrorCode, RpcError
from chainswarm.wire.service import BlockService

logger = logging.getLogger(__name__)

Request = runtime_pb2.ExpertRequest

CLOSE_TIMEOUT_S = 2.0
"""How long ``close`` waits for the node to end the stream (one round trip on a healthy node)."""


@dataclass(frozen=True)
class Hop:
    """Blocks [start, end) computed by node ``peer_id`` (a base58 peer id)."""

    peer_id: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.peer_id[-8:]}[{self.start}:{self.end})"


class NodeBusy(Exception):
    """A node has no free cache slot for a new session (not a failure: it is healthy and full)."""

    def __init__(self, hop: Hop, slots_free: int | None) -> None:
        super().__init__(f"node {hop} is busy ({slots_free} slots free)")
        self.hop = hop
        self.slots_free = slots_free


class HopFailed(Exception):
    """A node did not serve its hop: ban it and replace the hop.

    ``stale_record`` marks a healthy node that no longer serves what its record said (it moved to
    other blocks, or is draining): skip it until the view is read again, but do not count a strike.
    """

    def __init__(self, hop: Hop, reason: str, stale_record: bool = False) -> None:
        super().__init__(f"node {hop} failed: {reason}")
        self.hop = hop
        self.reason = reason
        self.stale_record = stale_record


class HopStream:
    """An open inference session on one node. Use from one task at a time."""

    def __init__(self, p2p: P2P, hop: Hop, session_id: str, step_timeout_s: float) -> None:
        self.hop = hop
        self._p2p = p2p
        self._session_id = session_id
        self._step_timeout_s = step_timeout_s
        self._outbox: asyncio.Queue[Request | None] = asyncio.Queue()
        self._responses: AsyncIterator[runtime_pb2.ExpertResponse] | None = None
        self._next_step_id = 0
        self._closed = False

    async def open(self, max_length: int, batch_size: int = 1) -> int:
        """Reserve the node's cache slots; returns its free-slot count after the reservation."""
        self._send({"type": "open", "session_id": self._session_id, "start": self.hop.start,
                    "end": self.hop.end, "max_length": max_length, "batch_size": batch_size})
        try:
            stub = BlockService.get_stub(self._p2p, PeerID.from_base58(self.hop.peer_id))
            self._responses = await asyncio.wait_for(stub.rpc_inference(self._requests()), self._step_timeout_s)
        except Exception as e:  # dial errors come as P2PDaemonError, ValueError (bad id) or TimeoutError
            await self.abort()
            raise HopFailed(self.hop, f"cannot open a stream: {_describe(e)}") from e
        meta, _ = await self._receive()
        if meta.get("ok") is not True:
            await self.abort()
            raise HopFailed(self.hop, f"unexpected reply to open: {meta!r:.200}")
        return int(meta.get("slots_free", 0))

    @property
    def session_id(self) -> str:
        return self._session_id

    def reserve_step_id(self) -> int:
        """A step id for a step this hop will get by push from the node before it."""
        step_id = self._next_step_id
        self._next_step_id += 1
        return step_id

    async def step(self, hidden: torch.Tensor, position: int) -> torch.Tensor:
        """Send hidden states for positions [position, position + T); returns the hop's output."""
        out, _ = await self.receive_step(self.send_step(hidden, position), hidden.shape)
        return out

    def send_step(self, hidden: torch.Tensor, position: int, push_to: Sequence[dict[str, Any]] = ()) -> int:
        """Send a step without waiting; ``push_to`` (PushTarget dicts) asks the node to send its
        output on to the next hops itself. Returns the step id its reply will carry."""
        step_id = self.reserve_step_id()
        meta: dict[str, Any] = {"type": "step", "step_id": step_id, "position": position}
        if push_to:
            meta["push_to"] = list(push_to)
        self._send(meta, hidden)
        return step_id

    async def receive_step(self, step_id: int, shape: torch.Size) -> tuple[torch.Tensor, bool]:
        """The output of step ``step_id`` (of ``shape``) and whether the node pushed it on.

        Replies to earlier steps are skipped: a node may have computed a pushed step whose
        result the client no longer waits for (the hop before it failed and was replayed).
        """
        while True:
            meta, tensors = await self._receive()
            got = meta.get("step_id")
            if isinstance(got, int) and got < step_id:
                continue
            if got != step_id or len(tensors) != 1 or tensors[0].shape != shape:
                shapes = [tuple(t.shape) for t in tensors]
                await self.abort()
                raise HopFailed(self.hop, f"malformed step reply {meta!r:.100} with tensors {shapes}, "
                                          f"expected step {step_id} and shape {tuple(shape)}")
            return tensors[0], meta.get("pushed") is True

    async def close(self) -> None:
        """Release the node's slots and wait (briefly) until it has done so."""
        if self._closed:
            return
        self._send({"type": "close"})
        self._outbox.put_nowait(None)
        self._closed = True
        if self._responses is not None:
            try:
                await asyncio.wait_for(_drain(self._responses), CLOSE_TIMEOUT_S)
            except Exception as e:  # a node that dies while we leave is not our problem any more
                logger.debug("closing %s: %s", self.hop, _describe(e))

    async def abort(self) -> None:
        """Drop the stream without waiting for the node (it frees the slots when the stream ends)."""
        self._closed = True
        self._outbox.put_nowait(None)
        if self._responses is not None:
            responses, self._responses = self._responses, None
            try:
                await asyncio.wait_for(responses.aclose(), CLOSE_TIMEOUT_S)
            except Exception as e:  # the stream is already broken; nothing left to release here
                logger.debug("aborting %s: %s", self.hop, _describe(e))

    def _send(self, meta: dict[str, Any], *tensors: torch.Tensor) -> None:
        for part in encode(Request, meta, tensors):
            self._outbox.put_nowait(part)

    async def _requests(self) -> AsyncIterator[Request]:
        while (message := await self._outbox.get()) is not None:
            yield message

    async def _receive(self) -> tuple[dict[str, Any], list[torch.Tensor]]:
        assert self._responses is not None, "receive before open"
        try:
            async with asyncio.timeout(self._step_timeout_s):
                first = await anext(self._responses)
                meta, tensors = await read_message(first, self._responses)
        except StopAsyncIteration:
            await self.abort()
            raise HopFailed(self.hop, "the node closed the stream") from None
        except TimeoutError:
            await self.abort()
            raise HopFailed(self.hop, f"no reply within {self._step_timeout_s:g} s") from None
        except Exception as e:  # P2P errors, RpcError from a garbled reply: all mean this node failed us
            await self.abort()
            raise HopFailed(self.hop, _describe(e)) from e
        error = RpcError.from_wire(meta)
        if error is None:
            return meta, tensors
        await self.abort()
        if error.code is ErrorCode.BUSY:
            slots = error.details.get("slots_free")
            raise NodeBusy(self.hop, slots if isinstance(slots, int) else None)
        if error.code is ErrorCode.BAD_REQUEST:
            raise error
        raise HopFailed(self.hop, f"{error.code.value}: {error.message}",
                        stale_record=error.code in (ErrorCode.NOT_HOSTED, ErrorCode.DRAINING))


async def _drain(responses: AsyncIterator[runtime_pb2.ExpertResponse]) -> None:
    async for _ in responses:
        pass


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
