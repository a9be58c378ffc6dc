"""JFFC in the simulator against queueing theory: M/M/c exactly, Theorem 4 as bounds."""

from __future__ import annotations

import math

import pytest

from chainswarm.placement import response_time_bounds
from tests.sim.builders import batch_means, one_server_chain, run_jffc


def erlang_c_response_time(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean response time of M/M/c: 1/μ + C(c, a)/(cμ − λ), with C the Erlang C probability."""
    a = arrival_rate / service_rate
    rho = a / servers
    tail = a**servers / math.factorial(servers) / (1 - rho)
    wait_probability = tail / (sum(a**k / math.factorial(k) for k in range(servers)) + tail)
    return 1 / service_rate + wait_probability / (servers * service_rate - arrival_rate)


@pytest.mark.parametrize(("capacity", "load"), [(1, 0.6), (3, 0.7), (8, 0.8)])
def test_one_chain_of_capacity_c_is_an_m_m_c_queue(capacity: int, load: float):
    service_time = 2.0
    rate = load * capacity / service_time
    records = run_jffc([one_server_chain("k", service_time, capacity)], rate, 40_000, seed=7)
    mean, stderr = batch_means([r.response_s for r in records])
    exact = erlang_c_response_time(capacity, rate, 1 / service_time)
    # 40k jobs in 20 batches: the standard error is a few percent at most; 4 SE is a 1-in-15,000
    # miss for a correct simulator, while a wrong queue discipline is off by tens of percent
    assert stderr < 0.03 * exact
    assert abs(mean - exact) < 4 * stderr


def test_no_job_waits_while_a_chain_is_free():
    records = run_jffc([one_server_chain("k", 1.0, 2)], 1.0, 5_000, seed=3)
    busy_until: list[float] = []
    for r in sorted(records, key=lambda r: r.arrival_s):
        running = [t for t in busy_until if t > r.arrival_s]
        if len(running) < 2:
            assert r.wait_s == 0.0
        busy_until = running + [r.finish_s]


@pytest.mark.parametrize("load", [0.4, 0.7])
def test_theorem_4_bounds_bracket_the_simulated_mean(load: float):
    chains = [
        one_server_chain("fast", 1.0, 2),
        one_server_chain("mid", 2.0, 3),
        one_server_chain("slow", 4.0, 4),
    ]
    total_rate = sum(c.capacity / c.service_time for c in chains)
    rate = load * total_rate
    lower, upper = response_time_bounds(chains, rate)
    records = run_jffc(chains, rate, 30_000, seed=11)
    mean, stderr = batch_means([r.response_s for r in records])
    # the bounds sit ≥ 10 standard errors apart here, so the bracket is a real check
    assert upper - lower > 10 * stderr
    assert lower - 4 * stderr <= mean <= upper + 4 * stderr


def test_jffc_prefers_the_fastest_free_chain():
    chains = [one_server_chain("slow", 4.0, 1), one_server_chain("fast", 1.0, 1)]
    records = run_jffc(chains, 0.05, 200, seed=5)
    # at a light load nearly every job finds the fast chain free: mean service near 1, not 2.5
    assert sum(r.service_s for r in records) / len(records) < 1.5
