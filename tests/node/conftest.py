"""A 3-node swarm of the tiny random Llama, and a raw protocol client for talking to one node."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import torch
from hivemind.p2p import P2P, PeerID
from hivemind.proto import runtime_pb2

from chainswarm.dht.records import NodeState
from chainswarm.models.spec import load_model_info
from chainswarm.wire.framing import encode, read_message
from chainswarm.wire.messages import RpcError
from chainswarm.wire.service import BlockService
from tests.swarm_nodes import START_TIMEOUT_S, LocalSwarm, local_swarm_processes
from tests.tiny_model import write_tiny_llama

NUM_BLOCKS = 6
# Memory per node: 2 of the 6 tiny blocks plus cache for max_length 256 (computed in the fixture).


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", num_layers=NUM_BLOCKS,
                            sharded=True)


def all_online(count: int):
    def check(view) -> bool:
        online = view.online_nodes()
        return len(online) >= count and not view.uncovered()
    return check


@pytest.fixture(scope="module")
def fixed_swarm(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    """Bootstrap + nodes on blocks [0,2), [2,4), [4,6), each told its span."""
    info = load_model_info(tiny_model)
    with local_swarm_processes(tmp_path_factory.mktemp("swarm"), info.model_id) as swarm:
        for a in range(0, NUM_BLOCKS, 2):
            swarm.start_node(tiny_model, "--blocks", f"{a}:{a + 2}", "--memory", "2MiB",
                             "--max-length", "256")
        swarm.wait_for(all_online(3), START_TIMEOUT_S, "3 nodes online")
        yield swarm


class RawSession:
    """The node protocol by hand: open, steps, close, over one rpc_inference stream."""

    def __init__(self, p2p: P2P, peer_id: str) -> None:
        self._stub = BlockService.get_stub(p2p, PeerID.from_base58(peer_id))
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._replies: AsyncIterator | None = None

    async def _requests(self) -> AsyncIterator[runtime_pb2.ExpertRequest]:
        while (item := await self._outbox.get()) is not None:
            yield item

    async def send(self, meta: dict, tensors: tuple = ()) -> tuple[dict, list[torch.Tensor]]:
        for part in encode(runtime_pb2.ExpertRequest, meta, tensors):
            await self._outbox.put(part)
        if self._replies is None:
            self._replies = await self._stub.rpc_inference(self._requests())
        return await self.receive()

    async def receive(self) -> tuple[dict, list[torch.Tensor]]:
        """The next reply on the stream (e.g. to a step another node pushed into this session)."""
        first = await asyncio.wait_for(anext(self._replies), 30)
        return await read_message(first, self._replies)

    async def open(self, start: int, end: int, max_length: int = 64, **extra) -> dict:
        self.session_id = uuid.uuid4().hex
        meta, _ = await self.send({"type": "open", "session_id": self.session_id, "start": start,
                                   "end": end, "max_length": max_length, **extra})
        return meta

    async def step(self, hidden: torch.Tensor, position: int, step_id: int = 0) -> torch.Tensor:
        meta, tensors = await self.send({"type": "step", "step_id": step_id, "position": position}, (hidden,))
        if (err := RpcError.from_wire(meta)) is not None:
            raise err
        return tensors[0]

    async def close(self) -> None:
        await self._outbox.put(encode(runtime_pb2.ExpertRequest, {"type": "close"})[0])
        await self._outbox.put(None)


def peer_for_block(view, block: int) -> str:
    return next(n.peer_id for n in view.online_nodes() if n.start <= block < n.end
                and n.state is NodeState.ONLINE)
