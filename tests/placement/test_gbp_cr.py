import math
from functools import cache

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainswarm.placement import (
    InfeasiblePlacement,
    ModelSpec,
    ServerSpec,
    Span,
    blocks_for_reservation,
    gbp_cr,
    gbp_cr_plan,
)
from tests.placement.builders import worked_example

EPS = 0.01


def _two_chain_rate() -> float:
    """An arrival rate that one GBP-CR chain cannot carry at ρ̄=0.7 but two can."""
    return 0.7 * (1 / (3 + 5 * EPS) + 0.5 / (3 + 12 * EPS))


def test_worked_example_forms_chains_j1_j2_and_j3_j4_j5():
    servers, model = worked_example(EPS)
    plan = gbp_cr_plan(servers, model, c=1, arrival_rate=_two_chain_rate(), target_load=0.7)
    assert plan.placement == {
        "j1": Span(0, 1),
        "j2": Span(1, 2),
        "j3": Span(0, 1),
        "j4": Span(1, 1),
        "j5": Span(2, 1),
    }
    assert [k.servers for k in plan.chains] == [("j1", "j2"), ("j3", "j4", "j5")]
    assert [k.capacity for k in plan.chains] == [1, 1]
    assert [k.service_time for k in plan.chains] == pytest.approx([3 + 5 * EPS, 3 + 12 * EPS])
    assert plan.service_rate == pytest.approx(1 / (3 + 5 * EPS) + 1 / (3 + 12 * EPS))
    assert plan.target_met


def test_servers_after_the_target_is_met_host_nothing():
    servers, model = worked_example(EPS)
    placement = gbp_cr(servers, model, c=1, arrival_rate=0.1)
    assert placement == {"j1": Span(0, 1), "j2": Span(1, 2)}


def test_unreachable_target_uses_every_server_and_says_so():
    servers, model = worked_example(EPS)
    plan = gbp_cr_plan(servers, model, c=1, arrival_rate=100.0)
    assert set(plan.placement) == {s.name for s in servers}
    assert not plan.target_met
    assert len(plan.chains) == 2


def test_last_server_of_a_chain_is_shifted_back_to_end_at_L():
    model = ModelSpec(num_blocks=5, block_bytes=1, cache_bytes=1)
    servers = [ServerSpec("a", memory=6, comm_time=0, block_time=1), ServerSpec("b", 6, 0, 2)]
    plan = gbp_cr_plan(servers, model, c=1, arrival_rate=0)
    assert plan.placement == {"a": Span(0, 3), "b": Span(2, 3)}
    (chain,) = plan.chains
    assert chain.blocks == (3, 2)  # b computes only the blocks a does not
    assert chain.service_time == 3 * 1 + 2 * 2


def test_infeasible_reservation_raises_a_value_error():
    servers, model = worked_example(EPS)
    with pytest.raises(InfeasiblePlacement, match="fewer than"):
        gbp_cr(servers, model, c=20, arrival_rate=0.1)
    assert issubclass(InfeasiblePlacement, ValueError)


def test_equal_amortized_times_are_taken_in_name_order_whatever_the_input_order():
    model = ModelSpec(num_blocks=2, block_bytes=1, cache_bytes=1)
    twins = [ServerSpec(n, memory=2, comm_time=1, block_time=1) for n in ("b", "a", "c")]
    for servers in (twins, twins[::-1]):
        assert gbp_cr(servers, model, c=1, arrival_rate=0) == {"a": Span(0, 1), "b": Span(1, 1)}


def test_duplicate_names_are_rejected():
    servers = [ServerSpec("a", 2, 1, 1), ServerSpec("a", 3, 1, 1)]
    with pytest.raises(ValueError, match="unique"):
        gbp_cr(servers, ModelSpec(2, 1, 1), c=1, arrival_rate=0)


def _min_chains_by_brute_force(times: list[float], per_server: int, num_blocks: int, target: float):
    """Problem (7): fewest disjoint groups, each hosting ≥ L blocks, with Σ_k 1/Σ_{j∈k} t_j ≥ target.
    Returns (K or None, the best rate reachable with each K)."""
    size = len(times)

    @cache
    def best_rate(mask: int, groups: int) -> float:
        if groups == 0:
            return 0.0
        if mask == 0:
            return -math.inf
        low = (mask & -mask).bit_length() - 1
        rest = mask & ~(1 << low)
        best = best_rate(rest, groups)  # server `low` unused
        sub = rest
        while True:  # every group containing `low`
            group = sub | (1 << low)
            members = [j for j in range(size) if group >> j & 1]
            if len(members) * per_server >= num_blocks:
                rate = 1 / sum(times[j] for j in members) + best_rate(mask & ~group, groups - 1)
                best = max(best, rate)
            if sub == 0:
                break
            sub = (sub - 1) & rest
        return best

    full = (1 << size) - 1
    rates = [best_rate(full, k) for k in range(1, size + 1)]
    feasible = [k for k, r in enumerate(rates, start=1) if r >= target]
    return (feasible[0] if feasible else None), rates


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(1, 7),
    memory=st.sampled_from([2, 3, 4.4, 6, 9.9]),
    num_blocks=st.integers(1, 6),
    c=st.integers(1, 3),
    comm=st.lists(st.floats(0.01, 2.0), min_size=7, max_size=7),
    block=st.lists(st.floats(0.001, 0.5), min_size=7, max_size=7),
    arrival_rate=st.floats(0.01, 3.0),
)
def test_gbp_cr_is_optimal_for_problem_7_with_homogeneous_memory(
    count, memory, num_blocks, c, comm, block, arrival_rate
):
    model = ModelSpec(num_blocks, block_bytes=1, cache_bytes=0.1)
    servers = [ServerSpec(f"s{i}", memory, comm[i], block[i]) for i in range(count)]
    per_server = blocks_for_reservation(memory, model, c)
    assume(per_server * count >= num_blocks)
    target = arrival_rate / (0.7 * c)
    times = [s.comm_time + s.block_time * per_server for s in servers]
    optimum, rates = _min_chains_by_brute_force(times, per_server, num_blocks, target)
    assume(all(abs(r - target) > 1e-9 * target for r in rates if math.isfinite(r)))  # no knife edges

    plan = gbp_cr_plan(servers, model, c, arrival_rate, target_load=0.7)
    if optimum is None:
        assert not plan.target_met
    else:
        assert plan.target_met
        assert len(plan.chains) == optimum
