"""collect(): coverage, block map rows, GCA chains, ν, λ and the Theorem-4 bounds, on hand-built views."""

from __future__ import annotations

import json
import math

import pytest

from chainswarm.dht.records import NodeState
from chainswarm.monitor.collect import collect
from tests.monitor.conftest import node, peer, view


def erlang_c_response_time(arrival_rate: float, rate: float, servers: int) -> float:
    """Mean response time of an M/M/c queue (Erlang C), computed independently of placement/."""
    a = arrival_rate / rate
    rho = a / servers
    head = sum(a**k / math.factorial(k) for k in range(servers))
    tail = a**servers / math.factorial(servers) / (1 - rho)
    wait_probability = tail / (head + tail)
    return 1 / rate + wait_probability / (servers * rate - arrival_rate)


def test_coverage_counts_online_nodes_only() -> None:
    health = collect(view(node("A", 0, 3), node("B", 2, 6), node("C", 0, 6, state=NodeState.JOINING)))
    assert health.coverage == (1, 1, 2, 1, 1, 1)
    assert health.uncovered == ()
    assert health.covered_once == (0, 1, 3, 4, 5)
    assert health.healthy


def test_gap_and_draining_nodes_leave_blocks_uncovered() -> None:
    health = collect(view(node("A", 0, 2), node("B", 2, 4, state=NodeState.DRAINING), node("C", 4, 6)))
    assert health.uncovered == (2, 3)
    assert not health.healthy
    assert health.chains == ()
    assert health.service_rate == 0


def test_no_spec_and_no_nodes_is_unhealthy() -> None:
    health = collect(view(spec=None))
    assert health.num_blocks == 0 and health.uncovered == ()
    assert not health.healthy
    assert health.label == health.prefix


def test_node_rows_sorted_by_span_with_record_age() -> None:
    health = collect(view(node("B", 3, 6, announced_at=99.0, free=5), node("A", 0, 3, public_name="alice"),
                          read_at=101.5))
    assert [(n.peer_id, n.start, n.end) for n in health.nodes] == [(peer("A"), 0, 3), (peer("B"), 3, 6)]
    alice, second = health.nodes
    assert alice.public_name == "alice" and alice.record_age_s == pytest.approx(1.5)
    assert (second.cache_slots_free, second.cache_slots_total, second.record_age_s) == (5, 8, 2.5)


def test_one_chain_is_an_mmc_queue() -> None:
    # A: τ^c 0.05 s, τ^p 0.1 s x 3 blocks; B: no announced τ^c (taken as 0), τ^p 0.2 s x 3 blocks
    a = node("A", 0, 3, comm_time_s=0.05, block_time_s=0.1, slots=9)
    b = node("B", 3, 6, block_time_s=0.2, slots=6)
    health = collect(view(a, b, rates=(0.5, 0.25)))
    (chain,) = health.chains
    assert [hop[0] for hop in chain.hops] == [peer("A"), peer("B")]
    assert chain.service_time_s == pytest.approx(0.05 + 0.3 + 0.6)
    assert chain.capacity == 2  # B: 6 announced slots / 3 blocks (memory_bytes is not used)
    assert health.arrival_rate == 0.75 and health.demand_clients == 2
    assert health.service_rate == pytest.approx(2 / 0.95)
    assert health.utilization == pytest.approx(0.75 * 0.95 / 2)
    expected = erlang_c_response_time(0.75, 1 / 0.95, 2)
    assert health.response_time_lower_s == pytest.approx(expected)
    assert health.response_time_upper_s == pytest.approx(expected)


def test_two_chains_bound_the_response_time_from_both_sides() -> None:
    fast, slow = node("A", 0, 6, block_time_s=0.01, slots=6), node("B", 0, 6, block_time_s=0.05, slots=6)
    health = collect(view(fast, slow, rates=(5.0,)))
    assert [c.hops[0][0] for c in health.chains] == [peer("A"), peer("B")]
    assert [c.capacity for c in health.chains] == [1, 1]
    assert health.service_rate == pytest.approx(1 / 0.06 + 1 / 0.3)
    assert 0.06 < health.response_time_lower_s < health.response_time_upper_s


def test_overload_gives_unbounded_times_and_null_json() -> None:
    health = collect(view(node("A", 0, 6, block_time_s=0.1, slots=6), rates=(3.0,)))
    assert health.utilization == pytest.approx(3.0 * 0.6)
    assert math.isinf(health.response_time_lower_s) and math.isinf(health.response_time_upper_s)
    data = json.loads(json.dumps(health.to_json(), allow_nan=False))
    assert data["response_time_lower_s"] is None and data["response_time_upper_s"] is None


def test_json_lists_blocks_and_nodes() -> None:
    health = collect(view(node("A", 0, 2), node("B", 4, 6, state=NodeState.JOINING)))
    data = json.loads(json.dumps(health.to_json(), allow_nan=False))
    assert data["num_blocks"] == 6 and data["model"] == "org/tiny"
    assert data["uncovered"] == [2, 3, 4, 5] and data["healthy"] is False
    assert [(n["peer_id"], n["state"], n["start"], n["end"]) for n in data["nodes"]] == [
        (peer("A"), "online", 0, 2), (peer("B"), "joining", 4, 6)]
    assert data["utilization"] == 0.0  # no demand announced
