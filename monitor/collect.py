"""One model's health from a swarm view: coverage, the block map, GCA chains and Theorem-4 bounds.

Pure functions of a :class:`SwarmView` (no I/O), so the terminal report, the dashboard and the
Prometheus metrics show the same figures and tests build views by hand.

What the figures assume. Chains are GCA's (paper §3.2, Alg. 2) over the *online* nodes, with each
node as server j: τ^p_j its announced ``block_time_s``, capacity from its announced
``cache_slots_total`` (the node's own integer count), and τ^c_j its announced ``comm_time_s`` or
0 when it announces none: the monitor measures no round trips, so service times and the bounds
are what a client next to every node would see, a floor on what remote clients see. λ is the sum
of the clients' announced arrival rates (0 when none announced), ν = Σ_k c_k/T_k, and the bounds
are Theorem 4's at that λ (paper §3.4).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chainswarm.dht.records import NodeRecord, NodeState, SwarmSpec
from chainswarm.dht.view import SwarmView
from chainswarm.placement.bounds import response_time_bounds
from chainswarm.placement.gca import gca
from chainswarm.placement.specs import Chain, ModelSpec, ServerSpec, Span

if TYPE_CHECKING:
    from chainswarm.monitor.events import Event

COMM_TIME_NOTE = (
    "tau_c per hop is each node's announced comm_time_s, or 0 when it announces none (the monitor "
    "measures no round trips): service times and bounds are a floor on what remote clients see."
)


@dataclass(frozen=True)
class NodeRow:
    """A node's line in the block map; times in seconds, memory in bytes, ``end`` exclusive."""

    peer_id: str
    state: str
    start: int
    end: int
    memory_bytes: int
    cache_slots_total: int
    cache_slots_free: int
    c_reserved: int
    block_time_s: float
    comm_time_s: float | None
    tokens_per_s: float
    public_name: str
    version: str
    dtype: str
    device: str
    record_age_s: float

    @classmethod
    def from_record(cls, node: NodeRecord, read_at: float) -> NodeRow:
        return cls(
            peer_id=node.peer_id, state=node.state.value, start=node.start, end=node.end,
            memory_bytes=node.memory_bytes, cache_slots_total=node.cache_slots_total,
            cache_slots_free=node.cache_slots_free, c_reserved=node.c_reserved,
            block_time_s=node.block_time_s, comm_time_s=node.comm_time_s, tokens_per_s=node.throughput,
            public_name=node.public_name, version=node.version, dtype=node.dtype, device=node.device,
            record_age_s=max(0.0, read_at - node.announced_at),
        )


@dataclass(frozen=True)
class ChainRow:
    """One GCA chain: ``hops`` as (peer id, first block, end block exclusive), T_k and c_k."""

    hops: tuple[tuple[str, int, int], ...]
    service_time_s: float
    capacity: int

    @classmethod
    def from_chain(cls, chain: Chain) -> ChainRow:
        return cls(tuple(chain.spans()), chain.service_time, chain.capacity)

    @property
    def service_rate(self) -> float:
        """c_k/T_k, jobs per second this chain completes when full."""
        return self.capacity / self.service_time_s if self.service_time_s > 0 else math.inf


@dataclass(frozen=True)
class ModelHealth:
    """Everything the monitor shows about one model's swarm as read at ``read_at`` (DHT time).

    ``coverage[b]`` counts the online nodes hosting block b; the model is ``healthy`` when L is
    known and every block has one. Rates are jobs/s; ``utilization`` = λ/ν; bounds are seconds
    and infinite when λ ≥ ν or no chain exists (JSON shows them as null).
    """

    prefix: str
    model_id: str | None
    num_blocks: int
    read_at: float
    coverage: tuple[int, ...]
    uncovered: tuple[int, ...]
    covered_once: tuple[int, ...]
    nodes: tuple[NodeRow, ...]
    chains: tuple[ChainRow, ...]
    service_rate: float
    arrival_rate: float
    demand_clients: int
    utilization: float
    response_time_lower_s: float
    response_time_upper_s: float
    moving_peer_id: str | None
    rejected: dict[str, str]

    @property
    def healthy(self) -> bool:
        return self.num_blocks > 0 and not self.uncovered

    @property
    def label(self) -> str:
        """The model id when a spec is visible, else the swarm's key prefix."""
        return self.model_id or self.prefix

    def count_in(self, state: NodeState) -> int:
        return sum(1 for node in self.nodes if node.state == state.value)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; infinities become null."""
        data = {key: _finite(value) for key, value in asdict(self).items()}
        data["healthy"] = self.healthy
        data["model"] = self.label
        data["comm_time_note"] = COMM_TIME_NOTE
        return data


@dataclass(frozen=True)
class HealthReport:
    """What the monitor serves: every watched model's health and the recent events, newest first."""

    read_at: float
    models: tuple[ModelHealth, ...]
    events: tuple[Event, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"read_at": self.read_at, "models": [m.to_json() for m in self.models],
                "events": [e.to_json() for e in self.events]}


def collect(view: SwarmView) -> ModelHealth:
    """The health of the model whose swarm ``view`` shows (see the module docstring)."""
    coverage = tuple(view.coverage())
    chains = [ChainRow.from_chain(chain) for chain in compose_chains(view.online_nodes(), view.spec)]
    arrival_rate = sum(load.arrival_rate for load in view.loads.values())
    service_rate = math.fsum(chain.service_rate for chain in chains)
    lower, upper = response_time_bounds([_as_chain(row) for row in chains], arrival_rate)
    return ModelHealth(
        prefix=view.prefix,
        model_id=view.spec.model_id if view.spec is not None else None,
        num_blocks=view.num_blocks,
        read_at=view.read_at,
        coverage=coverage,
        uncovered=tuple(b for b, count in enumerate(coverage) if count == 0),
        covered_once=tuple(b for b, count in enumerate(coverage) if count == 1),
        nodes=tuple(NodeRow.from_record(n, view.read_at) for n in _block_map_order(view.nodes.values())),
        chains=tuple(chains),
        service_rate=service_rate,
        arrival_rate=arrival_rate,
        demand_clients=len(view.loads),
        utilization=_utilization(arrival_rate, service_rate),
        response_time_lower_s=lower,
        response_time_upper_s=upper,
        moving_peer_id=view.lease.peer_id if view.lease is not None else None,
        rejected=dict(view.rejected),
    )


def compose_chains(nodes: list[NodeRecord], spec: SwarmSpec | None) -> list[Chain]:
    """GCA's chains over ``nodes`` with the monitor's server model (module docstring); empty when
    the spec is unknown or the nodes leave a block uncovered."""
    if spec is None:
        return []
    servers, placement = [], {}
    for node in nodes:
        end = min(node.end, spec.num_blocks)
        # M_j such that ⌊(M_j − s_m·m_j)/s_c⌋ is exactly the announced slot count
        memory = spec.block_bytes * (end - node.start) + spec.cache_bytes * node.cache_slots_total
        servers.append(ServerSpec(node.peer_id, memory, node.comm_time_s or 0.0, node.block_time_s))
        placement[node.peer_id] = Span(node.start, end - node.start)
    return gca(servers, ModelSpec(spec.num_blocks, spec.block_bytes, spec.cache_bytes), placement)


def _as_chain(row: ChainRow) -> Chain:
    return Chain(tuple(p for p, _, _ in row.hops), tuple(e - s for _, s, e in row.hops),
                 row.service_time_s, row.capacity)


def _utilization(arrival_rate: float, service_rate: float) -> float:
    """λ/ν: 0 with no demand, infinite with demand and no capacity."""
    if arrival_rate == 0:
        return 0.0
    return arrival_rate / service_rate if service_rate > 0 else math.inf


def _block_map_order(nodes: Any) -> list[NodeRecord]:
    """Rows of the block map: by first block, then last, then peer id (stable across reads)."""
    return sorted(nodes, key=lambda n: (n.start, n.end, n.peer_id))


def _finite(value: Any) -> Any:
    """Infinite floats → None, recursively through tuples, lists and dicts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def short_peer_id(peer_id: str) -> str:
    """The last 8 characters: peer ids share their '12D3KooW' head, the tail tells them apart."""
    return ".." + peer_id[-8:] if len(peer_id) > 8 else peer_id
