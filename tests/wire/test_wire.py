"""Wire protocol: metadata validation and multi-part framing of large tensors."""

import pytest
import torch
from hivemind.proto import runtime_pb2
from hivemind.utils import MSGPackSerializer

from chainswarm.wire.framing import MAX_PART_BYTES, encode, read_message
from chainswarm.wire.messages import (
    Close,
    ErrorCode,
    OpenSession,
    RpcError,
    Step,
    parse_forward_request,
    parse_session_message,
)


async def _aiter(items):
    for item in items:
        yield item


def test_session_messages_parse_by_type():
    assert isinstance(parse_session_message({"type": "close"}), Close)
    step = parse_session_message({"type": "step", "step_id": 3, "position": 7, "unknown": "ignored"})
    assert isinstance(step, Step) and step.position == 7
    opened = parse_session_message(
        {"type": "open", "session_id": "s1", "start": 0, "end": 4, "max_length": 128}
    )
    assert isinstance(opened, OpenSession) and opened.batch_size == 1


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"type": "teleport"},
        {"type": "step", "step_id": "3", "position": 0},  # strict: no str→int coercion
        {"type": "step", "step_id": 0, "position": -1},
        {"type": "open", "session_id": "", "start": 0, "end": 1, "max_length": 8},
        {"type": "open", "session_id": "x" * 65, "start": 0, "end": 1, "max_length": 8},
        {"type": "open", "session_id": "s", "start": 0, "end": 1, "max_length": 0},
        [1, 2, 3],
    ],
)
def test_malformed_session_messages_are_bad_requests(meta):
    with pytest.raises(RpcError) as info:
        parse_session_message(meta)
    assert info.value.code is ErrorCode.BAD_REQUEST


def test_forward_request_rejects_negative_blocks():
    with pytest.raises(RpcError):
        parse_forward_request({"start": -1, "end": 3})


def test_error_round_trip_keeps_code_and_details():
    err = RpcError(ErrorCode.BUSY, "full", slots_free=0)
    back = RpcError.from_wire(err.to_wire())
    assert back.code is ErrorCode.BUSY and back.details == {"slots_free": 0} and back.message == "full"
    assert RpcError.from_wire({"ok": True}) is None
    assert RpcError.from_wire({"error": {"code": "nonsense"}}).code is ErrorCode.INTERNAL


async def test_small_message_is_one_part():
    x = torch.randn(1, 3, 8)
    (msg,) = encode(runtime_pb2.ExpertRequest, {"type": "step"}, [x])
    meta, tensors = await read_message(msg, _aiter([]))
    assert meta == {"type": "step"}
    assert torch.equal(tensors[0], x)


async def test_large_tensors_are_split_and_reassembled():
    big = torch.randn(1, 700, 1024)  # 2.8 MB > MAX_PART_BYTES
    small = torch.arange(5, dtype=torch.float16)
    parts = encode(runtime_pb2.ExpertResponse, {"step_id": 1}, [big, small])
    assert len(parts) > 1
    assert all(p.ByteSize() < 2 * MAX_PART_BYTES for p in parts)
    meta, tensors = await read_message(parts[0], _aiter(parts[1:]))
    assert meta == {"step_id": 1}
    assert torch.equal(tensors[0], big) and torch.equal(tensors[1], small)


async def test_truncated_or_garbage_messages_are_bad_requests():
    parts = encode(runtime_pb2.ExpertRequest, {}, [torch.randn(1, 1400, 1024)])  # 3 parts
    with pytest.raises(RpcError) as info:
        await read_message(parts[0], _aiter(parts[1:2]))
    assert info.value.code is ErrorCode.BAD_REQUEST
    garbage = runtime_pb2.ExpertRequest(metadata=b"\xc1\xff\x00")
    with pytest.raises(RpcError):
        await read_message(garbage, _aiter([]))
    not_a_map = runtime_pb2.ExpertRequest(metadata=MSGPackSerializer.dumps([1, 2]))
    with pytest.raises(RpcError):
        await read_message(not_a_map, _aiter([]))
    bad_parts = runtime_pb2.ExpertRequest(metadata=MSGPackSerializer.dumps({"parts": 10**9}))
    with pytest.raises(RpcError):
        await read_message(bad_parts, _aiter([]))
