"""BPRR-like baseline: conservative block count, CG-BP placement, WS-RR routing, |R| choice."""

from __future__ import annotations

import math

import pytest

from chainswarm.placement import ModelSpec, ServerSpec, Span, cache_slots
from chainswarm.placement.baselines import (
    RouteGraph,
    bprr_num_blocks,
    cg_bp,
    choose_num_requests,
    ws_rr_route,
)

BLOOM = ModelSpec(70, 1.32, 0.11)


def _servers(fast: int, slow: int) -> list[ServerSpec]:
    return [ServerSpec(f"f{i}", 40.0, 1.0, 0.109) for i in range(fast)] + [
        ServerSpec(f"s{i}", 20.0, 1.0, 0.175) for i in range(slow)
    ]


def test_block_count_reserves_cache_for_all_requests():
    assert bprr_num_blocks(40.0, BLOOM, 1) == math.floor(40 / 1.43)
    assert bprr_num_blocks(40.0, BLOOM, 10) == math.floor(40 / (1.32 + 1.1))
    assert bprr_num_blocks(1.0, BLOOM, 1) == 0


def test_cg_bp_covers_every_block_and_uses_the_conservative_counts():
    servers = _servers(4, 16)
    placement = cg_bp(servers, BLOOM, 5)
    assert RouteGraph(placement, 70).covers_all_blocks()
    for s in servers:
        span = placement[s.name]
        assert span.count == bprr_num_blocks(s.memory, BLOOM, 5)
        assert 0 <= span.start and span.end <= 70


def test_cg_bp_places_the_fastest_server_first_at_block_zero():
    placement = cg_bp(_servers(1, 6), BLOOM, 2)
    # the fast server has the lowest amortized time per block and every window ties: start 0
    assert placement["f0"].start == 0


def test_cg_bp_second_phase_goes_where_capacity_is_lowest():
    model = ModelSpec(4, 1.0, 0.1)
    # four identical servers hosting 2 blocks each with R=1: two tile the model, then the rest
    # land where the per-block capacity is lowest
    servers = [ServerSpec(n, 2.4, 0.0, 1.0) for n in "abcd"]
    placement = cg_bp(servers, model, 1)
    assert {placement["a"], placement["b"]} == {Span(0, 2), Span(2, 2)}
    covered = [sum(1 for s in placement.values() if b in s) for b in range(4)]
    assert covered == [2, 2, 2, 2]


def test_cg_bp_rejects_counts_that_cannot_cover_the_model():
    with pytest.raises(ValueError, match="cannot cover"):
        cg_bp(_servers(0, 3), BLOOM, 1)


def test_ws_rr_avoids_a_route_with_a_long_estimated_wait():
    model = ModelSpec(4, 1.0, 0.1)
    specs = {
        "a": ServerSpec("a", 10, 1.0, 0.1),
        "b": ServerSpec("b", 10, 1.0, 0.2),
        "c": ServerSpec("c", 10, 1.0, 0.2),
    }
    graph = RouteGraph({"a": Span(0, 4), "b": Span(0, 2), "c": Span(2, 2)}, model.num_blocks)
    hops, cost = ws_rr_route(graph, specs, lambda j, m: 0.0)
    assert hops == [("a", 4)] and cost == pytest.approx(1.4)
    hops, cost = ws_rr_route(graph, specs, lambda j, m: 5.0 if j == "a" else 0.0)
    assert hops == [("b", 2), ("c", 2)] and cost == pytest.approx(2.8)


def test_num_requests_covers_its_own_demand():
    servers = _servers(4, 16)
    for rate in (0.05, 0.2, 0.6):
        r = choose_num_requests(servers, BLOOM, rate)
        graph = RouteGraph(cg_bp(servers, BLOOM, r), 70)
        _, service = ws_rr_route(graph, {s.name: s for s in servers}, lambda j, m: 0.0)
        load = rate * service
        assert r >= load + math.sqrt(load)
        if r > 1:  # and no smaller |R| did
            graph = RouteGraph(cg_bp(servers, BLOOM, r - 1), 70)
            _, service = ws_rr_route(graph, {s.name: s for s in servers}, lambda j, m: 0.0)
            assert r - 1 < rate * service + math.sqrt(rate * service)
    assert choose_num_requests(servers, BLOOM, 0.6) >= choose_num_requests(servers, BLOOM, 0.05)


def test_cache_capacity_holds_num_requests_full_spans():
    servers = _servers(2, 8)
    placement = cg_bp(servers, BLOOM, 4)
    for s in servers:
        assert cache_slots(s.memory, BLOOM, placement[s.name].count) >= 4 * placement[s.name].count
