"""Node processes serving real blocks over hivemind: exactness, slot accounting, bad input."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
import torch
from hivemind.proto import runtime_pb2
from transformers import AutoModelForCausalLM

from chainswarm.dht.records import NodeState
from chainswarm.wire.framing import decode_meta, encode
from chainswarm.wire.messages import ErrorCode, RpcError
from chainswarm.wire.service import BlockService
from tests.node.conftest import RawSession, peer_for_block
from tests.swarm_nodes import START_TIMEOUT_S

# One event loop and one P2P replica for the module: with hivemind 1.1.12, unary calls from a
# new replica hang after an earlier replica of the same daemon was shut down.
pytestmark = [pytest.mark.swarm, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def hf_model(tiny_model):
    return AutoModelForCausalLM.from_pretrained(tiny_model).eval()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def p2p(fixed_swarm):
    p2p = await fixed_swarm.reader.dht.replicate_p2p()
    yield p2p
    await p2p.shutdown()


async def test_records_are_valid_and_cover_the_model(fixed_swarm):
    view = fixed_swarm.view()
    assert not view.rejected
    spans = sorted((n.start, n.end) for n in view.online_nodes())
    assert spans == [(0, 2), (2, 4), (4, 6)]
    for node in view.online_nodes():
        assert node.cache_slots_free == node.cache_slots_total > 0
        assert node.decode_s_per_step > 0 and node.block_time_s > 0
        assert node.maddrs and all(m.startswith("/ip4/127.0.0.1/") for m in node.maddrs)
    assert view.spec is not None and view.spec.num_blocks == 6 and view.spec.max_length == 256


async def test_remote_blocks_equal_local_layers(fixed_swarm, p2p, hf_model):
    """Prefill 7 tokens then 10 decode steps through node [2,4): equal to HF's layers 2..3."""
    view = fixed_swarm.view()
    session = RawSession(p2p, peer_for_block(view, 2))
    assert (await session.open(2, 4, max_length=32))["ok"] is True
    ids = torch.randint(0, 300, (1, 7), generator=torch.Generator().manual_seed(0))
    cache = None
    with torch.no_grad():
        for step in range(11):
            out = hf_model(ids, cache=cache, use_cache=True, output_hidden_states=True)
            cache = out.cache
            position = 0 if step == 0 else 6 + step
            remote = await session.step(out.hidden_states[2], position, step)
            torch.testing.assert_close(remote, out.hidden_states[4], atol=1e-5, rtol=0)
            ids = out.logits[:, -1:].argmax(-1)
    await session.close()


async def test_replay_from_an_earlier_position_gives_the_same_output(fixed_swarm, p2p):
    view = fixed_swarm.view()
    session = RawSession(p2p, peer_for_block(view, 4))
    await session.open(4, 6)
    hidden = torch.randn(1, 5, 64)
    first = await session.step(hidden, 0)
    await session.step(torch.randn(1, 1, 64), 5)
    again = await session.step(hidden, 0)  # roll back and recompute: what a failover replay does
    torch.testing.assert_close(first, again, atol=1e-6, rtol=0)
    await session.close()


async def test_sessions_until_busy_then_slots_return(fixed_swarm, p2p):
    view = fixed_swarm.view()
    node = next(n for n in view.online_nodes() if n.start == 0)
    total = node.cache_slots_total
    sessions = []
    for _ in range(total // 2):  # each session holds 2 block-slots
        s = RawSession(p2p, node.peer_id)
        assert (await s.open(0, 2))["ok"] is True
        sessions.append(s)
    extra = RawSession(p2p, node.peer_id)
    err = RpcError.from_wire(await extra.open(0, 2))
    assert err is not None and err.code is ErrorCode.BUSY and err.details["slots_free"] == total % 2
    # wait in a thread: a blocking wait here would stall the loop that sends our messages
    await asyncio.to_thread(fixed_swarm.wait_for, lambda v: v.nodes[node.peer_id].cache_slots_free == total % 2,
                            15, "the record to show the node full")
    for s in sessions:
        await s.close()
    await asyncio.to_thread(fixed_swarm.wait_for, lambda v: v.nodes[node.peer_id].cache_slots_free == total,
                            15, "slots to return to the total")
    again = RawSession(p2p, node.peer_id)
    assert (await again.open(0, 2))["ok"] is True
    await again.close()


@pytest.mark.parametrize(
    "meta, tensors, code",
    [
        ({"type": "open", "session_id": "x", "start": 0, "end": 6, "max_length": 8}, (), ErrorCode.NOT_HOSTED),
        ({"type": "open", "session_id": "x", "start": 0, "end": 2, "max_length": 10**5}, (),
         ErrorCode.BAD_REQUEST),
        ({"type": "open", "session_id": 5, "start": 0, "end": 2, "max_length": 8}, (), ErrorCode.BAD_REQUEST),
        ({"type": "step", "step_id": 0, "position": 0}, (torch.zeros(1, 1, 64),), ErrorCode.BAD_REQUEST),
        ({"what": "ever"}, (), ErrorCode.BAD_REQUEST),
    ],
)
async def test_malformed_session_messages_get_codes(fixed_swarm, p2p, meta, tensors, code):
    view = fixed_swarm.view()
    session = RawSession(p2p, peer_for_block(view, 0))
    reply, _ = await session.send(meta, tensors)
    err = RpcError.from_wire(reply)
    assert err is not None and err.code is code, reply
    await session.close()


@pytest.mark.parametrize(
    "hidden",
    [torch.zeros(1, 3, 65), torch.zeros(1, 3, 64, dtype=torch.int64), torch.zeros(2, 3, 64),
     torch.full((1, 3, 64), float("nan")), torch.zeros(3, 64), torch.zeros(1, 40, 64)],
)
async def test_bad_tensors_get_bad_request_and_node_keeps_serving(fixed_swarm, p2p, hidden):
    view = fixed_swarm.view()
    peer = peer_for_block(view, 0)
    session = RawSession(p2p, peer)
    await session.open(0, 2, max_length=32)
    with pytest.raises(RpcError) as info:
        await session.step(hidden, 0)
    assert info.value.code is ErrorCode.BAD_REQUEST
    await session.close()
    healthy = RawSession(p2p, peer)
    await healthy.open(0, 2, max_length=32)
    assert (await healthy.step(torch.randn(1, 3, 64), 0)).shape == (1, 3, 64)
    await healthy.close()


async def test_rpc_forward_and_garbage_metadata(fixed_swarm, p2p, hf_model):
    from hivemind.p2p import PeerID

    view = fixed_swarm.view()
    stub = BlockService.get_stub(p2p, PeerID.from_base58(peer_for_block(view, 2)))
    ids = torch.randint(0, 300, (1, 9))
    with torch.no_grad():
        hs = hf_model(ids, output_hidden_states=True).hidden_states
    reply = await stub.rpc_forward(encode(runtime_pb2.ExpertRequest, {"start": 2, "end": 4}, [hs[2]])[0],
                                   timeout=30)
    from chainswarm.wire.framing import decode_tensors

    torch.testing.assert_close(decode_tensors(reply.tensors)[0], hs[4], atol=1e-5, rtol=0)
    garbage = await stub.rpc_forward(runtime_pb2.ExpertRequest(metadata=b"\xc1garbage"), timeout=30)
    assert "bad_request" in garbage.metadata.decode(errors="replace")
    info = await stub.rpc_info(runtime_pb2.ExpertRequest(), timeout=30)
    assert b"hidden_size" in info.metadata


async def test_sigterm_drains_then_leaves_cleanly(fixed_swarm, tiny_model, p2p):
    """DESIGN.md leaving rule: draining (no new sessions, sessions in flight finish), then offline, exit 0."""
    before = set(fixed_swarm.view().nodes)
    leaver = fixed_swarm.start_node(tiny_model, "--blocks", "4:6", "--memory", "2MiB", "--max-length", "256",
                                    name="leaver")
    view = await asyncio.to_thread(
        fixed_swarm.wait_for,
        lambda v: any(n.state is NodeState.ONLINE for p, n in v.nodes.items() if p not in before),
        START_TIMEOUT_S, "the leaver online")
    (peer,) = [p for p in view.nodes if p not in before]
    in_flight = RawSession(p2p, peer)
    assert (await in_flight.open(4, 6))["ok"] is True
    await in_flight.step(torch.randn(1, 3, 64), 0)

    leaver.terminate()
    await asyncio.to_thread(fixed_swarm.wait_for, lambda v: v.nodes[peer].state is NodeState.DRAINING, 30,
                            "the leaver's record to say draining")
    refused = RpcError.from_wire(await RawSession(p2p, peer).open(4, 6))
    assert refused is not None and refused.code is ErrorCode.DRAINING
    out = await in_flight.step(torch.randn(1, 1, 64), 3)  # the session in flight is still served
    assert out.shape == (1, 1, 64)
    await in_flight.close()

    await asyncio.to_thread(fixed_swarm.wait_for,
                            lambda v: peer not in v.nodes or v.nodes[peer].state is NodeState.OFFLINE, 30,
                            "the leaver's record to say offline")
    assert await asyncio.to_thread(leaver.popen.wait, 30) == 0, leaver.tail()


async def test_a_pushed_step_is_computed_and_replied_to_the_session_owner(fixed_swarm, p2p):
    """rpc_push (what the previous node of a chain sends) feeds a session like the client's own step."""
    from hivemind.p2p import PeerID

    peer = peer_for_block(fixed_swarm.view(), 2)
    stub = BlockService.get_stub(p2p, PeerID.from_base58(peer))
    session, twin = RawSession(p2p, peer), RawSession(p2p, peer)
    await session.open(2, 4)
    await twin.open(2, 4)
    prompt = torch.randn(1, 4, 64)
    owner = p2p.peer_id.to_base58()
    push = {"owner": owner, "session_id": session.session_id, "step_id": 7, "position": 0}
    ack = await stub.rpc_push(encode(runtime_pb2.ExpertRequest, push, [prompt])[0], timeout=30)
    assert RpcError.from_wire(decode_meta(ack)) is None
    meta, tensors = await session.receive()
    assert meta["step_id"] == 7 and meta["pushed"] is False
    torch.testing.assert_close(tensors[0], await twin.step(prompt, 0), atol=1e-6, rtol=0)
    await session.close()
    await twin.close()


@pytest.mark.parametrize(
    "meta",
    [
        {"owner": "nobody", "session_id": "none", "step_id": 0, "position": 0},  # no such session
        {"owner": "x", "session_id": 5, "step_id": 0, "position": 0},
        {"session_id": "x"},
        b"\xc1garbage",
    ],
)
async def test_bad_pushes_get_bad_request_and_node_keeps_serving(fixed_swarm, p2p, meta):
    from hivemind.p2p import PeerID

    peer = peer_for_block(fixed_swarm.view(), 0)
    stub = BlockService.get_stub(p2p, PeerID.from_base58(peer))
    request = (runtime_pb2.ExpertRequest(metadata=meta) if isinstance(meta, bytes)
               else encode(runtime_pb2.ExpertRequest, meta, [torch.zeros(1, 1, 64)])[0])
    reply = RpcError.from_wire(decode_meta(await stub.rpc_push(request, timeout=30)))
    assert reply is not None and reply.code is ErrorCode.BAD_REQUEST
    healthy = RawSession(p2p, peer)
    await healthy.open(0, 2, max_length=32)
    assert (await healthy.step(torch.randn(1, 3, 64), 0)).shape == (1, 3, 64)
    await healthy.close()
