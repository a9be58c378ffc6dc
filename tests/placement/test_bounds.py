import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainswarm.placement import Chain, response_time_bounds


def chain(service_time: float, capacity: int, name: str = "k") -> Chain:
    return Chain(servers=(name,), blocks=(1,), service_time=service_time, capacity=capacity)


def erlang_c_response_time(servers: int, arrival_rate: float, service_rate: float) -> float:
    """M/M/c mean response time, from the Erlang C formula (terms built by recurrence)."""
    load = arrival_rate / service_rate
    term, head = 1.0, 1.0  # a^k/k! for k = 0, and Σ_{k<c}
    for k in range(1, servers):
        term *= load / k
        head += term
    term *= load / servers
    queue_term = term * servers * service_rate / (servers * service_rate - arrival_rate)
    wait_probability = queue_term / (head + queue_term)
    return wait_probability / (servers * service_rate - arrival_rate) + 1 / service_rate


@pytest.mark.parametrize(
    ("capacity", "service_time", "arrival_rate"),
    [(1, 1.0, 0.5), (3, 1.0, 2.0), (10, 1.5, 5.0), (50, 2.0, 20.0), (120, 8.0, 14.0)],
)
def test_one_chain_bounds_equal_the_m_m_c_mean_response_time(capacity, service_time, arrival_rate):
    lower, upper = response_time_bounds([chain(service_time, capacity)], arrival_rate)
    expected = erlang_c_response_time(capacity, arrival_rate, 1 / service_time)
    assert lower == pytest.approx(expected, rel=1e-9)
    assert upper == pytest.approx(expected, rel=1e-9)


def test_two_chains_at_light_load_serve_at_the_fastest_or_slowest_speed():
    chains = [chain(10.0, 2000, "fast"), chain(20.0, 3000, "slow")]
    lower, upper = response_time_bounds(chains, 1e-6)
    assert lower == pytest.approx(10.0, rel=1e-6)
    assert upper == pytest.approx(20.0, rel=1e-6)
    assert response_time_bounds(chains, 0.0) == (10.0, 20.0)


def test_large_capacities_stay_finite_and_ordered():
    chains = [chain(7.0 + i / 10, 400 + 37 * i, f"k{i}") for i in range(30)]
    total_rate = sum(k.capacity / k.service_time for k in chains)
    for load in (0.1, 0.7, 0.99, 0.999999):
        lower, upper = response_time_bounds(chains, load * total_rate)
        assert math.isfinite(lower) and math.isfinite(upper)
        assert 7.0 <= lower <= upper


def test_unstable_or_empty_swarms_are_infinite():
    chains = [chain(2.0, 3)]
    assert response_time_bounds(chains, 1.5) == (math.inf, math.inf)
    assert response_time_bounds(chains, 2.0) == (math.inf, math.inf)
    assert response_time_bounds([], 1.0) == (math.inf, math.inf)
    assert response_time_bounds([chain(1.0, 0)], 0.1) == (math.inf, math.inf)
    with pytest.raises(ValueError):
        response_time_bounds(chains, -1.0)


def test_the_lower_bound_grows_with_load():
    chains = [chain(1.0, 2, "a"), chain(3.0, 5, "b")]
    values = [response_time_bounds(chains, rate)[0] for rate in (0.1, 1.0, 2.0, 3.0, 3.6)]
    assert values == sorted(values)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.1, 50.0), st.integers(1, 300)), min_size=1, max_size=8),
    st.floats(0.0, 0.999),
)
def test_lower_never_exceeds_upper(spec, load):
    chains = [chain(t, c, f"k{i}") for i, (t, c) in enumerate(spec)]
    total_rate = sum(c / t for t, c in spec)
    lower, upper = response_time_bounds(chains, load * total_rate)
    assert lower <= upper * (1 + 1e-9)
    assert lower >= min(t for t, _ in spec) * (1 - 1e-9)  # no job beats the fastest chain


def test_a_zero_time_chain_serves_instantly():
    chains = [chain(0.0, 1, "instant"), chain(2.0, 1, "slow")]
    lower, upper = response_time_bounds(chains, 0.5)
    assert lower == 0.0
    assert 0.0 < upper < 2.0  # the slow chain first, the rest instantly
