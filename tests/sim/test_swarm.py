"""The paper's simulation setting: per-block times, server mix, RTTs, τ^c."""

from __future__ import annotations

import pytest

from chainswarm.sim.profiles import BLOOM_176B, HIGH_GPU, LOW_GPU, block_time_s
from chainswarm.sim.swarm import high_count, paper_swarm


def test_block_times_match_the_papers_109_and_175_ms():
    assert block_time_s(HIGH_GPU, BLOOM_176B, 2000, 20) == pytest.approx(0.1089, abs=1e-4)
    assert block_time_s(LOW_GPU, BLOOM_176B, 2000, 20) == pytest.approx(0.1752, abs=1e-4)


@pytest.mark.parametrize(
    ("servers", "eta", "fast"), [(10, 0.1, 1), (30, 0.1, 3), (30, 0.3, 9), (40, 0.4, 16)]
)
def test_fast_server_count_is_j_eta(servers: int, eta: float, fast: int):
    assert high_count(servers, eta) == fast
    swarm = paper_swarm(servers, eta, seed=1)
    assert sum(1 for g in swarm.gpus.values() if g is HIGH_GPU) == fast
    assert len(swarm.gpus) == servers


def test_rtts_are_european_scale_and_seeded():
    swarm = paper_swarm(40, 0.2, seed=0)
    rtts = sorted(swarm.client_rtt_s.values())
    assert 0.005 < rtts[0] and rtts[-1] < 0.15
    assert 0.015 < rtts[len(rtts) // 2] < 0.06
    assert paper_swarm(40, 0.2, seed=0) == swarm
    assert paper_swarm(40, 0.2, seed=1).client_rtt_s != swarm.client_rtt_s
    assert swarm.rtt_between("s01", "s02") == swarm.rtt_between("s02", "s01")


def test_comm_time_is_one_round_trip_per_token_step_plus_activation_transfer():
    swarm = paper_swarm(5, 0.2, seed=0)
    rtt = swarm.client_rtt_s["s00"]
    one_token = swarm.comm_time_s("s00", 0, 1)
    assert one_token == pytest.approx(rtt + 0.018)
    twenty = swarm.comm_time_s("s00", 2000, 20)
    transfer = 2 * (2000 + 19) * 2 * 14336 * 8 / 10e9
    assert twenty == pytest.approx(20 * (rtt + 0.018) + transfer)


def test_path_time_is_eq_2():
    swarm = paper_swarm(5, 0.2, seed=0)
    specs = {s.name: s for s in swarm.server_specs(2000, 20)}
    hops = [("s00", 30), ("s03", 40)]
    expected = sum(specs[j].comm_time + specs[j].block_time * m for j, m in hops)
    assert swarm.path_time_s(hops, 2000, 20) == pytest.approx(expected)
