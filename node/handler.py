"""RPC handlers of a node: wire messages in, span computations out, errors as codes.

Bad input never kills a node: every request is validated (metadata by ``wire.messages``, tensors
here), and every failure becomes an ``RpcError`` reply. Compute runs on the node's ``Executor``,
never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import torch
from hivemind.proto import runtime_pb2

from chainswarm.node.executor import Executor
from chainswarm.node.sessions import Session, SessionTable, session_key
from chainswarm.wire.framing import MAX_PART_BYTES, decode_meta, encode, read_message
from chainswarm.wire.messages import (
    Close,
    ErrorCode,
    OpenSession,
    RpcError,
    Step,
    parse_forward_request,
    parse_push,
    parse_session_message,
)

logger = logging.getLogger(__name__)

Response = runtime_pb2.ExpertResponse
Request = runtime_pb2.ExpertRequest
# Sends an rpc_push to a peer (base58 id) and returns its reply; None: this node does not push.
PushSender = Callable[[str, Request], Awaitable[Response]]

PUSH_TIMEOUT_S = 2.0
"""How long a push may take to be accepted (the next node acks on receipt); past it the client
relays the output itself."""
PUSH_RETRY_S = 60.0
"""After a push to a peer fails, outputs for that peer go back through the client for this long:
a peer we cannot reach (NAT, firewall) would otherwise cost a failed dial on every step."""


class NodeHandler:
    """Implements ``wire.service.BlockBackend`` for one hosted span."""

    def __init__(
        self,
        sessions: SessionTable,
        executor: Executor,
        hidden_size: int,
        info: Callable[[], dict[str, Any]],
        step_timeout_s: float,
        send_push: PushSender | None = None,
    ) -> None:
        self.sessions = sessions
        self.executor = executor
        self.hidden_size = hidden_size
        self._info = info
        self._step_timeout_s = step_timeout_s
        self._send_push = send_push
        self._inboxes: dict[str, asyncio.Queue] = {}  # session key -> its stream's inbox
        self._no_push_until: dict[str, float] = {}  # peer id -> monotonic time of the next try

    async def info(self, request: runtime_pb2.ExpertRequest) -> Response:
        return encode(Response, self._info())[0]

    async def forward(self, request: runtime_pb2.ExpertRequest) -> Response:
        try:
            meta = decode_meta(request)
            req = parse_forward_request(meta)
            lo, hi = self.sessions.hosted
            if not lo <= req.start < req.end <= hi:
                raise RpcError(ErrorCode.NOT_HOSTED, f"blocks [{req.start}, {req.end}) not within [{lo}, {hi})")
            _, tensors = await read_message(request, _empty())
            hidden = self._check_hidden(tensors, batch_size=None, max_tokens=self.sessions.max_length)
            out = await self.executor.forward(hidden, req.start, req.end)
            replies = encode(Response, {}, [out.to(hidden.dtype)])
            if len(replies) > 1:
                raise RpcError(ErrorCode.BAD_REQUEST,
                               f"output exceeds {MAX_PART_BYTES} bytes; use rpc_inference for long inputs")
            return replies[0]
        except RpcError as e:
            return encode(Response, e.to_wire())[0]
        except Exception as e:
            logger.exception("rpc_forward failed")
            return encode(Response, RpcError(ErrorCode.INTERNAL, repr(e)).to_wire())[0]

    async def push(self, request: Request) -> Response:
        """A step of one of our sessions, sent by the node before us in the client's chain."""
        try:
            push = parse_push(decode_meta(request))
            inbox = self._inboxes.get(session_key(push.owner, push.session_id))
            if inbox is None:
                raise RpcError(ErrorCode.BAD_REQUEST, f"no open session {push.session_id!r} of {push.owner[-8:]}")
            _, tensors = await read_message(request, _empty())
            inbox.put_nowait((push.step(), tensors))
            return encode(Response, {"ok": True})[0]
        except RpcError as e:
            return encode(Response, e.to_wire())[0]
        except Exception as e:
            logger.exception("rpc_push failed")
            return encode(Response, RpcError(ErrorCode.INTERNAL, repr(e)).to_wire())[0]

    async def inference(self, requests: AsyncIterator[Request], peer: str) -> AsyncIterator[Response]:
        """One session: the client's messages and the steps pushed to it, in the order they arrive."""
        inbox: asyncio.Queue = asyncio.Queue()
        reader = asyncio.create_task(_read_client(requests, inbox))
        session: Session | None = None
        try:
            while True:
                try:
                    item = await asyncio.wait_for(inbox.get(), self._step_timeout_s)
                except TimeoutError:
                    logger.info("session from %s idle for %.0f s: closing", peer, self._step_timeout_s)
                    return
                if item is None:  # the client ended the stream
                    return
                if isinstance(item, BaseException):
                    raise item
                message, tensors = item
                if isinstance(message, Close):
                    return
                if isinstance(message, OpenSession):
                    if session is not None:
                        raise RpcError(ErrorCode.BAD_REQUEST, "session already opened on this stream")
                    session = self.sessions.open(message, peer)
                    self._inboxes[session.session_id] = inbox
                    yield encode(Response, {"ok": True, "slots_free": self.sessions.pool.free})[0]
                    continue
                if session is None:
                    raise RpcError(ErrorCode.BAD_REQUEST, "first message must open a session")
                for reply in await self._step(session, message, tensors):
                    yield reply
        except RpcError as e:
            yield encode(Response, e.to_wire())[0]
        except Exception as e:
            logger.exception("rpc_inference failed")
            yield encode(Response, RpcError(ErrorCode.INTERNAL, repr(e)).to_wire())[0]
        finally:
            reader.cancel()
            if session is not None:
                self._inboxes.pop(session.session_id, None)
                self.sessions.close(session)

    async def _step(self, session: Session, step: Step, tensors: list[torch.Tensor]) -> list[Response]:
        hidden = self._check_hidden(tensors, session.batch_size, session.max_length - step.position)
        cached = session.cache.length
        if step.position > cached:
            raise RpcError(ErrorCode.BAD_REQUEST, f"position {step.position} is past the {cached} cached tokens")
        self.sessions.touch(session)
        out = (await self.executor.step(session, hidden, step.position)).to(hidden.dtype)
        session.steps += 1
        pushed = bool(step.push_to) and await self._push_on(session, step, out)
        return encode(Response, {"step_id": step.step_id, "pushed": pushed}, [out])

    async def _push_on(self, session: Session, step: Step, out: torch.Tensor) -> bool:
        """Send ``out`` to the next hop of the client's chain; False (the client relays) if it fails."""
        target, rest = step.push_to[0], step.push_to[1:]
        if self._send_push is None or time.monotonic() < self._no_push_until.get(target.peer_id, 0.0):
            return False
        meta = {"owner": session.peer, "session_id": target.session_id, "step_id": target.step_id,
                "position": step.position, "push_to": [t.model_dump() for t in rest]}
        parts = encode(Request, meta, [out])
        if len(parts) > 1:  # rpc_push is unary: a long prefill's output goes back through the client
            return False
        try:
            reply = await asyncio.wait_for(self._send_push(target.peer_id, parts[0]), PUSH_TIMEOUT_S)
            error = RpcError.from_wire(decode_meta(reply))
        except Exception as e:  # unreachable, slow or gone: the client relays instead
            logger.info("push to %s failed (%r); clients relay to it for %.0f s", target.peer_id[-8:], e,
                        PUSH_RETRY_S)
            self._no_push_until[target.peer_id] = time.monotonic() + PUSH_RETRY_S
            return False
        if error is not None:
            logger.info("push to %s refused: %s", target.peer_id[-8:], error)
            return False
        return True

    def _check_hidden(self, tensors: list[torch.Tensor], batch_size: int | None, max_tokens: int) -> torch.Tensor:
        if len(tensors) != 1:
            raise RpcError(ErrorCode.BAD_REQUEST, f"expected 1 tensor (hidden states), got {len(tensors)}")
        (hidden,) = tensors
        if hidden.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise RpcError(ErrorCode.BAD_REQUEST, f"hidden states must be floating point, got {hidden.dtype}")
        if hidden.ndim != 3 or hidden.shape[2] != self.hidden_size:
            raise RpcError(ErrorCode.BAD_REQUEST,
                           f"hidden states must be (batch, tokens, {self.hidden_size}), got {tuple(hidden.shape)}")
        if batch_size is not None and hidden.shape[0] != batch_size:
            raise RpcError(ErrorCode.BAD_REQUEST, f"batch is {hidden.shape[0]}, session opened with {batch_size}")
        if not 1 <= hidden.shape[1] <= max_tokens:
            raise RpcError(ErrorCode.BAD_REQUEST,
                           f"{hidden.shape[1]} tokens do not fit (1..{max_tokens} allowed at this position)")
        if not torch.isfinite(hidden).all():
            raise RpcError(ErrorCode.BAD_REQUEST, "hidden states contain NaN or inf")
        return hidden


async def _read_client(requests: AsyncIterator[Request], inbox: asyncio.Queue) -> None:
    """Parsed client messages into ``inbox``, then None at the stream's end (an error: the error)."""
    try:
        while True:
            try:
                first = await anext(requests)
            except StopAsyncIteration:
                inbox.put_nowait(None)
                return
            meta, tensors = await read_message(first, requests)
            inbox.put_nowait((parse_session_message(meta), tensors))
    except asyncio.CancelledError:
        raise
    except Exception as e:  # a malformed message (RpcError) or a broken stream ends the session
        inbox.put_nowait(e)


async def _empty() -> AsyncIterator[runtime_pb2.ExpertRequest]:
    return
    yield  # an async generator with nothing in it
