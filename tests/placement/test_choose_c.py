import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainswarm.placement import (
    InfeasiblePlacement,
    ModelSpec,
    choose_c,
    evaluate_c,
    gbp_cr,
    gca,
    max_reservation,
    response_time_bounds,
)
from tests.placement.builders import paper_servers, servers_and_model

BLOOM = ModelSpec(num_blocks=70, block_bytes=1.32, cache_bytes=0.11)



def plain_search(servers, model, arrival_rate, target_load=0.7):
    """§3.5 as written: every c, no pruning; the smallest c among equal objectives."""
    best = None
    for c in range(1, max_reservation(servers, model) + 1):
        try:
            outcome = evaluate_c(servers, model, c, arrival_rate, target_load)
        except InfeasiblePlacement:
            continue
        if math.isfinite(outcome.lower_bound) and (best is None or outcome.lower_bound < best.lower_bound):
            best = outcome
    return best


@pytest.mark.parametrize(
    ("count", "fast_fraction", "arrival_rate"), [(20, 0.2, 0.2), (10, 0.4, 0.6), (30, 0.1, 1.0)]
)
def test_choose_c_minimizes_the_lower_bound_on_the_paper_setting(count, fast_fraction, arrival_rate):
    servers = paper_servers(count, fast_fraction, seed=count)
    c, placement, chains = choose_c(servers, BLOOM, arrival_rate)
    best = plain_search(servers, BLOOM, arrival_rate)
    assert c == best.c
    assert placement == best.placement == gbp_cr(servers, BLOOM, c, arrival_rate)
    assert chains == best.chains == gca(servers, BLOOM, placement)
    assert response_time_bounds(chains, arrival_rate)[0] == best.lower_bound


@settings(max_examples=60, deadline=None)
@given(servers_and_model(max_servers=6, max_blocks=6), st.floats(0.01, 3.0))
def test_choose_c_equals_the_plain_search(swarm, arrival_rate):
    servers, model = swarm
    best = plain_search(servers, model, arrival_rate)
    if best is None:
        with pytest.raises(InfeasiblePlacement):
            choose_c(servers, model, arrival_rate)
        return
    assert choose_c(servers, model, arrival_rate) == (best.c, best.placement, best.chains)


def test_choose_c_ignores_the_order_servers_are_listed_in():
    servers = paper_servers(20, 0.2, seed=3)
    shuffled = servers[:]
    random.Random(1).shuffle(shuffled)
    assert choose_c(servers, BLOOM, 0.2) == choose_c(shuffled, BLOOM, 0.2)


def test_c_max_is_the_cache_of_one_block_on_the_largest_server():
    servers = paper_servers(10, 0.3, seed=0)
    assert max_reservation(servers, BLOOM) == math.floor((40 - 1.32) / 0.11)


def test_no_stable_c_raises():
    servers = paper_servers(10, 0.4, seed=0)
    with pytest.raises(InfeasiblePlacement, match="no reservation c"):
        choose_c(servers, BLOOM, arrival_rate=1000.0)
    with pytest.raises(InfeasiblePlacement):
        choose_c(servers[:1], BLOOM, arrival_rate=0.1)  # one 20–40 GB server cannot hold 70 blocks
