"""Petals' placement rules (block count, weakest-window choice, join order) and its routing."""

from __future__ import annotations

import pytest

from chainswarm.placement import ModelSpec, Span
from chainswarm.placement.baselines import (
    PetalsLatency,
    PetalsServer,
    RouteGraph,
    block_throughputs,
    choose_best_start,
    min_latency_route,
    petals_cache_slots,
    petals_num_blocks,
    petals_placement,
    petals_throughput,
)

BLOOM = ModelSpec(70, 1.32, 0.11)


def test_best_start_is_the_weakest_window():
    assert choose_best_start([5.0, 1.0, 1.0, 5.0], 2) == 1
    assert choose_best_start([3.0, 3.0, 0.0, 3.0, 3.0], 3) == 0  # all three windows hold the 0
    assert choose_best_start([3.0, 3.0, 3.0, 0.0], 2) == 2


def test_best_start_breaks_ties_by_next_weakest_block_then_lowest_start():
    # every window holds a 1; the second-weakest block decides (2 beats 3), at start 2
    assert choose_best_start([1.0, 3.0, 1.0, 2.0], 2) == 2
    # identical windows everywhere: the lowest start
    assert choose_best_start([0.0] * 6, 3) == 0
    assert choose_best_start([1.0, 1.0, 1.0, 1.0], 4) == 0


def test_best_start_rejects_a_window_longer_than_the_model():
    with pytest.raises(ValueError):
        choose_best_start([0.0, 0.0], 3)


def test_placement_follows_join_order_and_fills_gaps():
    joining = [PetalsServer("b", 2, 1.0), PetalsServer("a", 2, 1.0), PetalsServer("c", 2, 1.0)]
    placement = petals_placement(joining, 4)
    # b fills [0,2) (all-zero tie → lowest start), a the empty [2,4), c ties again → start 0
    assert placement == {"b": Span(0, 2), "a": Span(2, 2), "c": Span(0, 2)}


def test_a_server_goes_where_the_bottleneck_is():
    joining = [PetalsServer("big", 4, 10.0), PetalsServer("small", 2, 1.0), PetalsServer("next", 2, 5.0)]
    placement = petals_placement(joining, 6)
    assert placement["big"] == Span(0, 4)
    assert placement["small"] == Span(4, 2)
    # now blocks 4,5 carry 1.0 and 0..3 carry 10.0: the weakest window is at 4
    assert placement["next"] == Span(4, 2)
    assert block_throughputs(placement, {s.name: s.throughput for s in joining}, 6) == [10, 10, 10, 10, 6, 6]


def test_servers_without_blocks_are_left_out():
    placement = petals_placement([PetalsServer("x", 0, 0.0), PetalsServer("y", 3, 1.0)], 3)
    assert placement == {"y": Span(0, 3)}


def test_block_count_reserves_petals_attention_cache_per_block():
    # BLOOM-176B: s_m + 2·s_c = 1.54 GB per block after a 2 GiB autograd reserve
    reserve = 2 * 2**30 / 1e9
    assert petals_num_blocks(40.0, BLOOM, reserve=reserve) == 24
    assert petals_num_blocks(20.0, BLOOM, reserve=reserve) == 11
    assert petals_num_blocks(1.0, BLOOM, reserve=reserve) == 0
    assert petals_num_blocks(500.0, BLOOM) == 70


def test_block_count_floor_is_exact():
    # 3.3 / (0.9 + 2·0.1) = 2.9999999999999996 in binary floating point; the rule means 3
    model = ModelSpec(10, 0.9, 0.1)
    assert 3.3 / (0.9 + 2 * 0.1) < 3
    assert petals_num_blocks(3.3, model) == 3


def test_cache_slots_and_throughput():
    assert petals_cache_slots(24) == 48
    # compute-bound: forward_rps over the mean number of this server's blocks a request uses
    assert petals_throughput(24000.0, 1e6, 24) == pytest.approx(24000.0 / 12.5)
    assert petals_throughput(24000.0, 500.0, 24) == 500.0


def _latency(step: float = 0.001) -> PetalsLatency:
    rtt = {"a": 0.02, "b": 0.02, "slow1": 0.02, "slow2": 0.02}
    return PetalsLatency(rtt, lambda i, j: 0.02, {name: step for name in rtt})


def test_min_latency_prefers_fewer_hops_until_a_server_lacks_cache():
    placement = {"a": Span(0, 4), "slow1": Span(0, 2), "slow2": Span(2, 2)}
    graph = RouteGraph(placement, 4)
    assert min_latency_route(graph, _latency(), lambda j: False) == [("a", 4)]
    # a's cache is short: +10 s makes the two-hop route cheaper
    assert min_latency_route(graph, _latency(), lambda j: j == "a") == [("slow1", 2), ("slow2", 2)]
    # everything short: the penalty is paid once on the one-hop route
    assert min_latency_route(graph, _latency(), lambda j: True) == [("a", 4)]


def test_routes_switch_servers_only_where_a_span_ends():
    placement = {"a": Span(0, 3), "b": Span(1, 4)}
    graph = RouteGraph(placement, 5)
    # b is entered at block 3 (a's end) and computes 3 and 4
    assert min_latency_route(graph, _latency(), lambda j: False) == [("a", 3), ("b", 2)]


def test_a_gap_means_no_route():
    graph = RouteGraph({"a": Span(0, 2), "b": Span(3, 2)}, 5)
    assert not graph.covers_all_blocks()
    with pytest.raises(ValueError, match="gap"):
        min_latency_route(graph, _latency(), lambda j: False)
