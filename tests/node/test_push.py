"""A node's push to the next hop: a peer it cannot reach is not dialed again on every step."""

from __future__ import annotations

import torch
from hivemind.proto import runtime_pb2

from chainswarm.node.handler import NodeHandler
from chainswarm.node.sessions import Session
from chainswarm.wire.framing import encode
from chainswarm.wire.messages import parse_session_message


def _step(*peers: str):
    return parse_session_message({"type": "step", "step_id": 0, "position": 0, "push_to": [
        {"peer_id": p, "session_id": "s", "step_id": 1} for p in peers]})


async def test_an_unreachable_peer_is_skipped_then_a_reachable_one_gets_the_push():
    dialed: list[str] = []

    async def send_push(peer_id: str, request):
        dialed.append(peer_id)
        if peer_id == "unreachable":
            raise ConnectionError("no route to peer")
        return encode(runtime_pb2.ExpertResponse, {"ok": True})[0]

    handler = NodeHandler(None, None, 4, dict, step_timeout_s=1.0, send_push=send_push)
    session = Session("client/abc", "client", 0, 1, 8, 1, cache=None)
    out = torch.zeros(1, 1, 4)
    assert await handler._push_on(session, _step("unreachable", "after"), out) is False
    assert await handler._push_on(session, _step("unreachable", "after"), out) is False
    assert dialed == ["unreachable"]  # the second step went back through the client without a dial
    assert await handler._push_on(session, _step("reachable"), out) is True
    assert dialed == ["unreachable", "reachable"]
