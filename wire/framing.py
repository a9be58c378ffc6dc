"""Framing of one logical message (metadata + tensors) over hivemind protobuf messages.

hivemind caps a message near 4 MiB (reference/hivemind.md §0.5), so a logical message whose
tensors exceed ``MAX_PART_BYTES`` is split into several protobuf messages: the first carries the
metadata with ``"parts": n``, every one carries tensor chunks from ``split_for_streaming``. The
reader regroups chunks into tensors (a chunk with a dtype starts a new tensor).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import torch
from hivemind.compression import deserialize_torch_tensor, serialize_torch_tensor
from hivemind.proto import runtime_pb2
from hivemind.utils import MSGPackSerializer
from hivemind.utils.streaming import combine_from_streaming, split_for_streaming

from chainswarm.wire.messages import ErrorCode, RpcError

MAX_PART_BYTES = 2 * 1024 * 1024
MAX_PARTS = 4096  # 8 GiB per logical message: anything larger is an attack or a bug

Proto = TypeVar("Proto", runtime_pb2.ExpertRequest, runtime_pb2.ExpertResponse)


def encode(
    proto: type[Proto], meta: dict[str, Any], tensors: Sequence[torch.Tensor] = ()
) -> list[Proto]:
    """One logical message → one or more protobuf messages."""
    chunks: list[runtime_pb2.Tensor] = []
    for t in tensors:
        chunks.extend(split_for_streaming(serialize_torch_tensor(t.detach().cpu()), MAX_PART_BYTES))
    if len(chunks) <= 1:
        return [proto(tensors=chunks, metadata=MSGPackSerializer.dumps(meta))]
    head = proto(tensors=chunks[:1], metadata=MSGPackSerializer.dumps({**meta, "parts": len(chunks)}))
    return [head] + [proto(tensors=[c]) for c in chunks[1:]]


def decode_meta(message: runtime_pb2.ExpertRequest | runtime_pb2.ExpertResponse) -> dict[str, Any]:
    try:
        meta = MSGPackSerializer.loads(message.metadata) if message.metadata else {}
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise RpcError(ErrorCode.BAD_REQUEST, f"metadata is not valid msgpack: {e}") from None
    if not isinstance(meta, dict):
        raise RpcError(ErrorCode.BAD_REQUEST, f"metadata must be a map, got {type(meta).__name__}")
    return meta


async def read_message(
    first: Proto, rest: AsyncIterator[Proto]
) -> tuple[dict[str, Any], list[torch.Tensor]]:
    """Read one logical message given its first protobuf message and the stream it came from."""
    meta = decode_meta(first)
    parts = meta.pop("parts", 1)
    if not isinstance(parts, int) or not 1 <= parts <= MAX_PARTS:
        raise RpcError(ErrorCode.BAD_REQUEST, f"bad parts count {parts!r}")
    chunks = list(first.tensors)
    for _ in range(parts - 1):
        try:
            nxt = await anext(rest)
        except StopAsyncIteration:
            raise RpcError(ErrorCode.BAD_REQUEST, "stream ended inside a multi-part message") from None
        chunks.extend(nxt.tensors)
    return meta, decode_tensors(chunks)


def decode_tensors(chunks: Sequence[runtime_pb2.Tensor]) -> list[torch.Tensor]:
    groups: list[list[runtime_pb2.Tensor]] = []
    for c in chunks:
        if c.dtype or not groups:
            groups.append([c])
        else:
            groups[-1].append(c)
    try:
        return [deserialize_torch_tensor(combine_from_streaming(g)) for g in groups]
    except Exception as e:  # corrupt buffers raise from numpy/torch with varied types
        raise RpcError(ErrorCode.BAD_REQUEST, f"cannot deserialize tensor: {e}") from None
