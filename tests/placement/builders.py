"""Instances shared by the placement tests: the paper's worked example and hypothesis strategies."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st

from chainswarm.placement import ModelSpec, ServerSpec, Span


def worked_example(eps: float = 0.01) -> tuple[list[ServerSpec], ModelSpec]:
    """Paper §3.2 (tech report Fig. 2): J=5, L=3, s_m=1, s_c=0.1; M=3 for j2 and 2 otherwise;
    τ^c=2 for j2 and 1 otherwise; τ^p of j_l = l·ε."""
    servers = [
        ServerSpec(f"j{i}", memory=3 if i == 2 else 2, comm_time=2 if i == 2 else 1, block_time=i * eps)
        for i in range(1, 6)
    ]
    return servers, ModelSpec(num_blocks=3, block_bytes=1, cache_bytes=0.1)


@dataclass(frozen=True)
class Instance:
    servers: list[ServerSpec]
    model: ModelSpec
    placement: dict[str, Span]


# Few distinct values, so equal-cost chains (ties) are common.
_TIMES = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0])


@st.composite
def servers_and_model(draw, max_servers: int = 8, max_blocks: int = 8) -> tuple[list[ServerSpec], ModelSpec]:
    """Small swarms in decimal units (s_m, s_c like 1.32/0.11 or 1/0.1) with tie-prone times."""
    num_blocks = draw(st.integers(1, max_blocks))
    block_bytes, cache_bytes = draw(st.sampled_from([(1.0, 0.1), (1.32, 0.11), (2, 1), (0.3, 0.1)]))
    count = draw(st.integers(1, max_servers))
    servers = [
        ServerSpec(
            name=f"s{i}",
            memory=draw(st.sampled_from([1, 2, 3.3, 4.4, 6, 9.9, 12])),
            comm_time=draw(_TIMES),
            block_time=draw(_TIMES | st.floats(0.01, 1.0)),
        )
        for i in range(count)
    ]
    return servers, ModelSpec(num_blocks, block_bytes, cache_bytes)


@st.composite
def random_placements(draw, max_servers: int = 8, max_blocks: int = 8) -> Instance:
    """Any spans, not only GBP-CR's: overlapping, nested, uncovered blocks, empty servers."""
    servers, model = draw(servers_and_model(max_servers, max_blocks))
    placement = {}
    for server in servers:
        count = draw(st.integers(0, model.num_blocks))
        start = draw(st.integers(0, model.num_blocks - count))
        placement[server.name] = Span(start, count)
    return Instance(servers, model, placement)


def paper_servers(count: int, fast_fraction: float, seed: int, max_rtt_s: float = 0.08) -> list[ServerSpec]:
    """Paper §5.2 classes (40 GB / 109 ms, 20 GB / 175 ms); τ^c = 20 round trips of a made-up
    RTT in [10 ms, ``max_rtt_s``] plus 18 ms."""
    rng = random.Random(seed)
    fast = set(rng.sample(range(count), round(count * fast_fraction)))
    return [
        ServerSpec(
            f"srv{i:02d}",
            memory=40 if i in fast else 20,
            comm_time=20 * (rng.uniform(0.01, max_rtt_s) + 0.018),
            block_time=0.109 if i in fast else 0.175,
        )
        for i in range(count)
    ]
