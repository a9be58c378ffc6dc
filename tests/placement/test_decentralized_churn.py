"""The final rule under churn (sim/churn.py): stable wherever the centralized plan is, on small
grid points of the paper's setting (fast: J = 10)."""

import math

import pytest

from chainswarm.sim.churn import run_churn
from chainswarm.sim.profiles import BLOOM_176B, PAPER_INPUT_TOKENS, PAPER_OUTPUT_TOKENS
from chainswarm.sim.swarm import paper_swarm


def join_order(servers: int, eta: float, seed: int):
    swarm = paper_swarm(servers, eta, seed)
    specs = {s.name: s for s in swarm.server_specs(PAPER_INPUT_TOKENS, PAPER_OUTPUT_TOKENS)}
    return [specs[n] for n in swarm.join_order]


@pytest.mark.parametrize(("eta", "rate", "seed"), [(0.2, 0.6, 1), (0.3, 0.6, 0), (0.4, 0.2, 2)])
def test_sticky_rule_is_stable_where_the_centralized_plan_is(eta, rate, seed):
    result = run_churn("sticky", join_order(10, eta, seed), BLOOM_176B.spec, rate, leaves=2, seed=seed)
    for phase in (result.after_joins, result.after_leaves):
        if math.isfinite(phase.centralized):
            assert math.isfinite(phase.lower_bound)
            assert phase.ratio < 1.25
    assert all(e.reloads <= len(result.after_joins.placement) for e in result.events)


def test_churn_is_deterministic_for_a_seed():
    order = join_order(10, 0.3, 4)
    first = run_churn("sticky", order, BLOOM_176B.spec, 0.6, leaves=2, seed=4)
    again = run_churn("sticky", order, BLOOM_176B.spec, 0.6, leaves=2, seed=4)
    assert first.after_leaves.placement == again.after_leaves.placement
    assert first.events == again.events


def test_global_strategy_matches_the_centralized_plan_after_joins():
    result = run_churn("global", join_order(10, 0.3, 0), BLOOM_176B.spec, 0.6, leaves=1, seed=0)
    assert result.after_joins.ratio <= 1.0 + 1e-9
