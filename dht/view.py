"""One model's swarm as read, and the rules every reader applies to agree on it (no hivemind).

``SwarmDHT.read_swarm`` (``swarm.py``) fetches and validates the records; this module holds what
it returns and the pure rules it uses — which spec the swarm agrees on, which nodes fit it, who
holds the moving lease — so that readers such as ``node/choice.py`` and ``monitor/`` need the
view without importing hivemind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from chainswarm.dht.records import LoadRecord, MovingLease, NodeRecord, NodeState, SwarmSpec


@dataclass(frozen=True)
class SwarmView:
    """One model's swarm as read at ``read_at`` (DHT time), records already validated.

    ``spec`` is the one announced by most peers (ties: the one whose smallest announcer id is
    smallest), ``specs`` maps each announcer to what it announced, ``lease`` is the current
    holder's claim, and ``rejected`` maps 'key[subkey]' to why that record was dropped.
    """

    prefix: str
    spec: SwarmSpec | None
    specs: dict[str, SwarmSpec]
    nodes: dict[str, NodeRecord]
    loads: dict[str, LoadRecord]
    lease: MovingLease | None
    read_at: float
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def num_blocks(self) -> int:
        """L from the spec, or the furthest announced end if no spec is visible."""
        if self.spec is not None:
            return self.spec.num_blocks
        return max((n.end for n in self.nodes.values()), default=0)

    def nodes_in(self, *states: NodeState) -> list[NodeRecord]:
        """Nodes in any of ``states``, sorted by peer id so that every reader iterates alike
        (c* is computed over ONLINE and JOINING nodes, DESIGN.md item 3)."""
        return [self.nodes[p] for p in sorted(self.nodes) if self.nodes[p].state in states]

    def online_nodes(self) -> list[NodeRecord]:
        """Nodes that accept sessions, sorted by peer id."""
        return self.nodes_in(NodeState.ONLINE)

    def coverage(self) -> list[int]:
        """Number of online nodes hosting each block 0..L-1."""
        counts = [0] * self.num_blocks
        for node in self.online_nodes():
            for block in range(node.start, min(node.end, self.num_blocks)):
                counts[block] += 1
        return counts

    def uncovered(self) -> list[int]:
        """Blocks no online node hosts: while any exist, the swarm cannot serve the model."""
        return [block for block, count in enumerate(self.coverage()) if count == 0]


def total_arrival_rate(view: SwarmView, default_rate: float) -> float:
    """λ, the sum of the clients' announced arrival rates (requests/s); ``default_rate`` when
    no client announced any (DESIGN.md, Decentralized placement item 2)."""
    if not view.loads:
        return default_rate
    return sum(load.arrival_rate for load in view.loads.values())


def record_owner(record: NodeRecord | SwarmSpec | LoadRecord | MovingLease) -> str | None:
    """The id a record must be stored under, if it names one."""
    if isinstance(record, NodeRecord | MovingLease):
        return record.peer_id
    if isinstance(record, LoadRecord):
        return record.client_id
    return None


def consensus(specs: dict[str, SwarmSpec]) -> SwarmSpec | None:
    """The spec most announcers agree on; ties go to the one with the smallest announcer id."""
    if not specs:
        return None
    votes = Counter(specs.values())
    first_announcer = {spec: min(p for p, s in specs.items() if s == spec) for spec in votes}
    return min(votes, key=lambda spec: (-votes[spec], first_announcer[spec]))


def misfit(node: NodeRecord, spec: SwarmSpec | None, own_spec: SwarmSpec | None) -> str | None:
    """Why a node record cannot be part of this swarm, or None."""
    if spec is None:
        return None
    if own_spec is not None and own_spec != spec:
        return f"its spec differs from the swarm's ({spec.mismatch(own_spec)})"
    return node.check_against(spec)


def lease_holder(claims: Iterable[MovingLease], now: float) -> MovingLease | None:
    """The active claim with the earliest start (ties: smaller peer id), or None."""
    active = [claim for claim in claims if claim.active(now)]
    return min(active, key=lambda claim: (claim.since, claim.peer_id), default=None)
