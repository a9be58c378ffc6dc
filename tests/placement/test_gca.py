import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainswarm.placement import ModelSpec, ServerSpec, Span, cache_slots, gbp_cr, gca
from chainswarm.placement.specs import hop_time
from tests.placement.builders import Instance, random_placements, servers_and_model, worked_example
from tests.placement.reference_gca import reference_gca

EPS = 0.01


def assert_valid(instance: Instance, chains) -> None:
    """Every chain runs blocks 0..L-1 in order on the placement's spans, has capacity ≥ 1 and
    T_k per Eq.2; together they over-commit no server's residual slots; fastest first."""
    by_name = {s.name: s for s in instance.servers}
    used = defaultdict(int)
    for chain in chains:
        assert chain.capacity >= 1
        assert len(chain.servers) == len(chain.blocks) == len(set(chain.servers))
        done = 0
        for name, m in zip(chain.servers, chain.blocks, strict=True):
            span = instance.placement[name]
            assert span.start <= done < span.end and done + m == span.end
            done += m
            used[name] += m * chain.capacity
        assert done == instance.model.num_blocks
        assert chain.service_time == math.fsum(
            hop_time(by_name[n], m) for n, m in zip(chain.servers, chain.blocks, strict=True)
        )
    for name, slots in used.items():
        span = instance.placement[name]
        assert slots <= cache_slots(by_name[name].memory, instance.model, span.count)
    times = [k.service_time for k in chains]
    assert times == sorted(times)


def test_worked_example_gives_three_chains_of_capacity_five():
    servers, model = worked_example(EPS)
    rate = 0.7 * (1 / (3 + 5 * EPS) + 0.5 / (3 + 12 * EPS))  # GBP-CR needs both of its chains
    placement = gbp_cr(servers, model, c=1, arrival_rate=rate)
    chains = gca(servers, model, placement)
    assert [k.servers for k in chains] == [("j1", "j2"), ("j1", "j4", "j5"), ("j3", "j4", "j5")]
    assert [k.capacity for k in chains] == [5, 5, 5]
    assert [k.service_time for k in chains] == pytest.approx([3 + 5 * EPS, 3 + 10 * EPS, 3 + 12 * EPS])
    assert_valid(Instance(servers, model, placement), chains)


def test_equal_times_prefer_fewer_servers_then_smaller_names():
    model = ModelSpec(num_blocks=2, block_bytes=1, cache_bytes=1)
    servers = [
        ServerSpec("a", memory=3, comm_time=0, block_time=1),  # a → b: 2 s, two hops
        ServerSpec("b", memory=3, comm_time=0, block_time=1),
        ServerSpec("y", memory=4, comm_time=0, block_time=1),  # y alone: 2 s, one hop
        ServerSpec("x", memory=4, comm_time=0, block_time=1),  # x alone: same as y
    ]
    placement = {"a": Span(0, 1), "b": Span(1, 1), "x": Span(0, 2), "y": Span(0, 2)}
    chains = gca(servers, model, placement)
    assert [k.servers for k in chains] == [("x",), ("y",), ("a", "b")]
    assert chains == reference_gca(servers, model, placement)


def test_ties_are_judged_on_exact_sums_not_rounded_ones():
    # s0→s2 sums to 0.75 in floats but 0.75 + 2^-60 exactly; s4→s1 is exactly 0.75, so it is
    # faster although its names sort later.
    model = ModelSpec(num_blocks=3, block_bytes=1, cache_bytes=1)
    times = {"s0": 2.0**-60, "s1": 0.25, "s2": 0.75, "s4": 0.5}
    spans = {"s0": Span(0, 1), "s1": Span(2, 1), "s2": Span(1, 2), "s4": Span(0, 2)}
    servers = [ServerSpec(n, memory=10, comm_time=t, block_time=0.0) for n, t in times.items()]
    assert 2.0**-60 + 0.75 == 0.75
    chains = gca(servers, model, spans)
    assert chains[0].servers == ("s4", "s1")
    assert chains == reference_gca(servers, model, spans)


def test_uncovered_placement_gives_no_chains():
    servers, model = worked_example(EPS)
    assert gca(servers, model, {"j1": Span(0, 1), "j2": Span(1, 1)}) == []


def test_placement_must_name_known_servers_and_fit_the_model():
    servers, model = worked_example(EPS)
    with pytest.raises(ValueError, match="not in the server list"):
        gca(servers, model, {"nobody": Span(0, 3)})
    with pytest.raises(ValueError, match="outside"):
        gca(servers, model, {"j1": Span(2, 2)})


@settings(max_examples=300, deadline=None)
@given(random_placements())
def test_chains_are_valid_on_any_placement(instance):
    assert_valid(instance, gca(instance.servers, instance.model, instance.placement))


@settings(max_examples=400, deadline=None)
@given(random_placements())
def test_fast_gca_equals_the_reference_on_any_placement(instance):
    fast = gca(instance.servers, instance.model, instance.placement)
    assert fast == reference_gca(instance.servers, instance.model, instance.placement)


@settings(max_examples=150, deadline=None)
@given(servers_and_model(max_servers=10, max_blocks=10), st.integers(1, 4), st.floats(0, 5))
def test_fast_gca_equals_the_reference_on_gbp_cr_placements(swarm, c, arrival_rate):
    servers, model = swarm
    try:
        placement = gbp_cr(servers, model, c, arrival_rate)
    except ValueError:
        return
    fast = gca(servers, model, placement)
    assert fast == reference_gca(servers, model, placement)
    assert_valid(Instance(servers, model, placement), fast)
