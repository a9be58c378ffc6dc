"""Hand-built swarm views for the monitor's unit tests (no network)."""

from __future__ import annotations

from chainswarm.dht.records import LoadRecord, NodeRecord, NodeState, SwarmSpec
from chainswarm.dht.view import SwarmView

SPEC = SwarmSpec(model_id="org/tiny", num_blocks=6, dtype="float32", max_length=128,
                 block_bytes=1000, cache_bytes=100)
PREFIX = "chainswarm.org-tiny"


def peer(name: str) -> str:
    return "12D3KooW" + name * 8


def node(name: str, start: int, end: int, *, state: NodeState = NodeState.ONLINE, slots: int = 8,
         free: int | None = None, block_time_s: float = 0.1, comm_time_s: float | None = None,
         announced_at: float = 100.0, public_name: str = "") -> NodeRecord:
    return NodeRecord(
        peer_id=peer(name), state=state, start=start, end=end, memory_bytes=10**9,
        block_bytes=SPEC.block_bytes, cache_slots_total=slots, cache_slots_free=slots if free is None else free,
        block_time_s=block_time_s, prefill_s_per_token=0.0, decode_s_per_step=0.0, c_reserved=2,
        dtype="float32", device="cpu", throughput=12.5, version="0.1.0", announced_at=announced_at,
        comm_time_s=comm_time_s, public_name=public_name,
    )


def view(*nodes: NodeRecord, rates: tuple[float, ...] = (), read_at: float = 101.0,
         spec: SwarmSpec | None = SPEC) -> SwarmView:
    loads = {f"client{i}": LoadRecord(client_id=f"client{i}", arrival_rate=r, window_s=60.0, updated_at=read_at)
             for i, r in enumerate(rates)}
    specs = {nodes[0].peer_id: spec} if nodes and spec is not None else {}
    return SwarmView(prefix=PREFIX, spec=spec, specs=specs, nodes={n.peer_id: n for n in nodes},
                     loads=loads, lease=None, read_at=read_at)
