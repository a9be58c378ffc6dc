"""RPC handlers of a node: wire messages in, span computations out, errors as codes.

Bad input never kills a node: every request is validated (metadata by ``wire.messages``, tensors
here), and every failure becomes an ``RpcError`` reply. Compute runs on the node's ``Executor``,
never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import torch
from hivemind.proto import runtime_pb2

from chainswarm.node.executor import Executor
from chainswarm.node.sessions import Session, SessionTable
from chainswarm.wire.framing import MAX_PART_BYTES, decode_meta, encode, read_message
from chainswarm.wire.messages import (
    Close,
    ErrorCode,
    OpenSession,
    RpcError,
    Step,
    parse_forward_request,
    parse_session_message,
)

logger = logging.getLogger(__name__)

Response = runtime_pb2.ExpertResponse


class NodeHandler:
    """Implements ``wire.service.BlockBackend`` for one hosted span."""

    def __init__(
        self,
        sessions: SessionTable,
        executor: Executor,
        hidden_size: int,
        info: Callable[[], dict[str, Any]],
        step_timeout_s: float,
    ) -> None:
        self.sessions = sessions
        self.executor = executor
        self.hidden_size = hidden_size
        self._info = info
        self._step_timeout_s = step_timeout_s

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

    async def inference(
        self, requests: AsyncIterator[runtime_pb2.ExpertRequest], peer: str
    ) -> AsyncIterator[Response]:
        session: Session | None = None
        try:
            while True:
                try:
                    first = await asyncio.wait_for(anext(requests), self._step_timeout_s)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    logger.info("session from %s idle for %.0f s: closing", peer, self._step_timeout_s)
                    return
                meta, tensors = await read_message(first, requests)
                message = parse_session_message(meta)
                if isinstance(message, Close):
                    return
                if isinstance(message, OpenSession):
                    if session is not None:
                        raise RpcError(ErrorCode.BAD_REQUEST, "session already opened on this stream")
                    session = self.sessions.open(message, peer)
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
            if session is not None:
                self.sessions.close(session)

    async def _step(self, session: Session, step: Step, tensors: list[torch.Tensor]) -> list[Response]:
        hidden = self._check_hidden(tensors, session.batch_size, session.max_length - step.position)
        cached = session.cache.length
        if step.position > cached:
            raise RpcError(ErrorCode.BAD_REQUEST, f"position {step.position} is past the {cached} cached tokens")
        self.sessions.touch(session)
        out = await self.executor.step(session, hidden, step.position)
        session.steps += 1
        return encode(Response, {"step_id": step.step_id}, [out.to(hidden.dtype)])

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


async def _empty() -> AsyncIterator[runtime_pb2.ExpertRequest]:
    return
    yield  # an async generator with nothing in it
