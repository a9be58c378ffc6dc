"""The node's RPC service as hivemind sees it: one class name shared by node and client.

hivemind names handlers ``f"{ClassName}.{rpc_name}"`` (reference/hivemind.md §2), so the client's
stub and the node's handlers must come from the same class. ``BlockService`` is that class; it
holds no logic and forwards each call to a ``BlockBackend`` (the node's implementation).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# typing.AsyncIterator, not collections.abc's: hivemind detects stream handlers by the hint's
# ``_name``, which only typing's aliases carry; with the abc one a stream silently becomes unary.
from typing import AsyncIterator, Protocol  # noqa: UP035

from hivemind.p2p import P2P, P2PContext, PeerID, ServicerBase
from hivemind.proto import runtime_pb2


class BlockBackend(Protocol):
    async def info(self, request: runtime_pb2.ExpertRequest) -> runtime_pb2.ExpertResponse: ...

    async def forward(self, request: runtime_pb2.ExpertRequest) -> runtime_pb2.ExpertResponse: ...

    async def push(self, request: runtime_pb2.ExpertRequest) -> runtime_pb2.ExpertResponse: ...

    def inference(
        self, requests: AsyncIterator[runtime_pb2.ExpertRequest], peer: str
    ) -> AsyncIterator[runtime_pb2.ExpertResponse]: ...


class BlockService(ServicerBase):
    """``rpc_info`` (record + limits), ``rpc_forward`` (stateless), ``rpc_inference`` (sessions),
    ``rpc_push`` (a session's step sent by the previous node of the client's chain)."""

    def __init__(self, backend: BlockBackend | None = None) -> None:
        self._backend = backend

    async def rpc_info(
        self, request: runtime_pb2.ExpertRequest, context: P2PContext
    ) -> runtime_pb2.ExpertResponse:
        return await self._backend.info(request)

    async def rpc_forward(
        self, request: runtime_pb2.ExpertRequest, context: P2PContext
    ) -> runtime_pb2.ExpertResponse:
        return await self._backend.forward(request)

    async def rpc_push(
        self, request: runtime_pb2.ExpertRequest, context: P2PContext
    ) -> runtime_pb2.ExpertResponse:
        return await self._backend.push(request)

    async def rpc_inference(
        self, requests: AsyncIterator[runtime_pb2.ExpertRequest], context: P2PContext
    ) -> AsyncIterator[runtime_pb2.ExpertResponse]:
        async for response in self._backend.inference(requests, context.remote_id.to_base58()):
            yield response


def push_sender(p2p: P2P) -> Callable[[str, runtime_pb2.ExpertRequest], Awaitable[runtime_pb2.ExpertResponse]]:
    """How a node sends ``rpc_push`` to another node (by base58 peer id) through its own P2P."""

    async def send(peer_id: str, request: runtime_pb2.ExpertRequest) -> runtime_pb2.ExpertResponse:
        return await BlockService.get_stub(p2p, PeerID.from_base58(peer_id)).rpc_push(request)

    return send
