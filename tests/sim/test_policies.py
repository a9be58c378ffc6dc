"""The four policies on the paper's setting: who wins, determinism, infeasible settings."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from chainswarm.sim.policies import POLICIES, Infeasible, build_plan
from chainswarm.sim.profiles import LLAMA_2_7B
from chainswarm.sim.run import run_poisson
from chainswarm.sim.swarm import paper_swarm

SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def default_setting() -> dict[str, list[float]]:
    """Mean response time per policy and seed on J=20, η=0.2, λ=0.2 req/s (paper's default)."""
    return {
        policy: [run_poisson(policy, 20, 0.2, 0.2, seed, 1000).summary.response_mean for seed in SEEDS]
        for policy in ("proposed", "petals", "bprr")
    }


def test_proposed_beats_petals_on_the_default_setting(default_setting: dict[str, list[float]]):
    for proposed, petals in zip(default_setting["proposed"], default_setting["petals"], strict=True):
        assert proposed < petals


def test_proposed_beats_bprr_on_the_default_setting(default_setting: dict[str, list[float]]):
    for proposed, bprr in zip(default_setting["proposed"], default_setting["bprr"], strict=True):
        assert proposed < bprr


@pytest.mark.parametrize("policy", ["proposed", "petals", "bprr"])
def test_same_seed_same_result(policy: str):
    first = run_poisson(policy, 20, 0.3, 0.3, 5, 300)
    again = run_poisson(policy, 20, 0.3, 0.3, 5, 300)
    other = run_poisson(policy, 20, 0.3, 0.3, 6, 300)
    assert asdict(first.summary) == asdict(again.summary)
    assert first.details == again.details
    assert asdict(first.summary) != asdict(other.summary)


def test_petals_hosts_petals_block_counts_and_covers_the_model():
    swarm = paper_swarm(20, 0.2, seed=0)
    plan = build_plan("petals", swarm, 0.2, 2000, 20)
    pools = plan.dispatcher.pools
    # 24 blocks on a 40 GB server, 11 on a 20 GB one; two max-length sessions' cache per block
    for name, gpu in swarm.gpus.items():
        blocks = 24 if gpu.memory_gb == 40 else 11
        assert pools.capacity[name] == 2 * blocks
    assert plan.details["blocks_hosted"] == 4 * 24 + 16 * 11


def test_proposed_uses_the_c_of_choose_c():
    plan = build_plan("proposed", paper_swarm(20, 0.2, seed=0), 0.2, 2000, 20)
    assert plan.details["c"] >= 1
    assert plan.details["total_rate"] > 0.2 / 0.7 * 0.99


def test_bprr_routes_cover_the_model():
    swarm = paper_swarm(30, 0.3, seed=2)
    plan = build_plan("bprr", swarm, 0.2, 2000, 20)
    assert plan.details["num_requests"] >= 1
    assert set(plan.dispatcher.pools.capacity) == set(swarm.gpus)


def test_jffc_only_is_infeasible_for_bloom_and_works_for_llama():
    with pytest.raises(Infeasible, match="no server fits"):
        build_plan("jffc-only", paper_swarm(20, 0.2, seed=0), 0.2, 2000, 20)
    result = run_poisson("jffc-only", 9, 1 / 3, 0.5, 0, 300, model=LLAMA_2_7B)
    assert result.details == {"chains": 9, "job_servers": 3 * 24 + 6 * 5}
    assert result.summary.response_mean > 0


def test_too_small_a_swarm_is_infeasible_with_a_reason():
    with pytest.raises(Infeasible, match="petals"):
        build_plan("petals", paper_swarm(2, 0.0, seed=0), 0.2, 2000, 20)
    with pytest.raises(Infeasible, match="proposed"):
        build_plan("proposed", paper_swarm(2, 0.0, seed=0), 0.2, 2000, 20)


def test_unknown_policy():
    with pytest.raises(ValueError, match="unknown policy"):
        build_plan("random", paper_swarm(5, 0.2, seed=0), 0.2, 2000, 20)
    assert set(POLICIES) == {"proposed", "petals", "bprr", "jffc-only"}
