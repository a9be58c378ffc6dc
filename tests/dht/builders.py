"""Hand-built swarm records for the dht tests."""

from __future__ import annotations

import time
from typing import Any

from chainswarm.dht.records import NodeRecord, NodeState, SwarmSpec


def peer(name: str) -> str:
    """A well-formed base58 peer id made from a short name."""
    return "12D3KooW" + name * 8


def make_spec(**changes: Any) -> SwarmSpec:
    fields: dict[str, Any] = dict(
        model_id="tiny-llama",
        num_blocks=8,
        dtype="float32",
        max_length=512,
        block_bytes=4096,
        cache_bytes=512,
    )
    return SwarmSpec(**(fields | changes))


def make_node(peer_id: str, start: int, end: int, **changes: Any) -> NodeRecord:
    """An online node on blocks [start, end), announced now; ``changes`` override any field."""
    fields: dict[str, Any] = dict(
        peer_id=peer_id,
        state=NodeState.ONLINE,
        start=start,
        end=end,
        memory_bytes=65536,
        block_bytes=4096,
        cache_slots_total=20,
        cache_slots_free=20,
        block_time_s=0.001,
        prefill_s_per_token=1e-5,
        decode_s_per_step=0.001,
        c_reserved=2,
        dtype="float32",
        device="cpu",
        throughput=100.0,
        version="0.1.0",
        announced_at=time.time(),
    )
    return NodeRecord(**(fields | changes))
