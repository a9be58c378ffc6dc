"""Server chains for this client: GCA (paper §3.2, Alg. 2) over the nodes it can use.

Each node becomes the paper's server j (DESIGN.md, Client rules 2):

- τ^c_j = this client's own measured round-trip time to the node × the steps of an expected
  request (one prefill step plus one per generated token after the first): the client relays
  every step, so a hop costs one round trip per step (paper §1, "Communication").
- τ^p_j from the node's record: its measured prefill time per token and decode time per step,
  per block, applied to the same expected request (the paper's footnote formula); the record's
  own ``block_time_s`` when the node measured neither.
- M_j such that ⌊(M_j − s_m·m_j)/s_c⌋ equals the node's announced ``cache_slots_total``: the
  node's own count, exact in integers, whatever memory it really has.

A failed hop's replacement (:func:`compose_routes`) is GCA on the sub-problem of blocks
[start, end): every node's span clipped to it, so a replacement may be one node or several.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chainswarm.dht.records import NodeRecord, SwarmSpec
from chainswarm.placement.gca import gca
from chainswarm.placement.specs import Chain, ModelSpec, ServerSpec, Span
from chainswarm.routing.hop import Hop

DEFAULT_RTT_S = 0.15
"""Round trip assumed for a node not yet pinged (Petals' default for an unknown ping)."""


@dataclass(frozen=True)
class Workload:
    """The request size that τ^c and τ^p are computed for (paper §1 footnote)."""

    prompt_tokens: int = 256
    new_tokens: int = 64

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1 or self.new_tokens < 1:
            raise ValueError("prompt_tokens and new_tokens must be >= 1")

    @property
    def steps(self) -> int:
        """Round trips per hop: the prefill step, then one per generated token after the first."""
        return self.new_tokens


def server_spec(node: NodeRecord, spec: SwarmSpec, rtt_s: float, workload: Workload, num_blocks: int) -> ServerSpec:
    """``node`` as server j when it computes ``num_blocks`` of its blocks (its whole span for chains)."""
    block_time = node.prefill_s_per_token * workload.prompt_tokens + node.decode_s_per_step * (
        workload.new_tokens - 1
    )
    if block_time == 0:
        block_time = node.block_time_s
    memory = spec.block_bytes * num_blocks + spec.cache_bytes * node.cache_slots_total
    return ServerSpec(node.peer_id, memory, rtt_s * workload.steps, block_time)


def compose_chains(
    nodes: Iterable[NodeRecord], spec: SwarmSpec, rtts: Mapping[str, float], workload: Workload
) -> list[Chain]:
    """GCA's chains over ``nodes`` (fastest first); empty when they do not cover every block."""
    return _gca_over(nodes, spec, rtts, workload, 0, spec.num_blocks)


def compose_routes(
    nodes: Iterable[NodeRecord],
    spec: SwarmSpec,
    rtts: Mapping[str, float],
    workload: Workload,
    start: int,
    end: int,
) -> list[list[Hop]]:
    """Hop sequences that compute blocks [start, end), fastest first; empty if none covers them."""
    return [chain_hops(chain, offset=start) for chain in _gca_over(nodes, spec, rtts, workload, start, end)]


def chain_hops(chain: Chain, offset: int = 0) -> list[Hop]:
    """The hops of ``chain``: each server with the blocks it computes (shifted by ``offset``)."""
    return [Hop(peer, offset + lo, offset + hi) for peer, lo, hi in chain.spans()]


def _gca_over(
    nodes: Iterable[NodeRecord],
    spec: SwarmSpec,
    rtts: Mapping[str, float],
    workload: Workload,
    start: int,
    end: int,
) -> list[Chain]:
    servers: list[ServerSpec] = []
    placement: dict[str, Span] = {}
    for node in nodes:
        lo, hi = max(node.start, start), min(node.end, end)
        if lo >= hi:
            continue
        rtt_s = rtts.get(node.peer_id, DEFAULT_RTT_S)
        servers.append(server_spec(node, spec, rtt_s, workload, hi - lo))
        placement[node.peer_id] = Span(lo - start, hi - lo)
    model = ModelSpec(end - start, spec.block_bytes, spec.cache_bytes)
    return gca(servers, model, placement)
