"""The node's placement rules: reservation, block count, the sticky plan and the start."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainswarm.placement import (
    InfeasiblePlacement,
    ModelSpec,
    ServerSpec,
    Span,
    blocks_for_reservation,
    choose_c,
    evaluate_c,
    gbp_cr,
)
from chainswarm.placement.moves import reachable
from chainswarm.placement.reservation import (
    RESERVATION_HYSTERESIS,
    choose_reservation,
    num_blocks_for,
    swarm_reservation,
)
from chainswarm.placement.score import SwarmScore, swarm_score, uncovered_blocks
from chainswarm.placement.start import best_response, choose_start
from chainswarm.placement.sticky import plan_target, sticky_plan
from chainswarm.placement.view import rounded_servers
from tests.placement.builders import paper_servers, servers_and_model

BLOOM = ModelSpec(num_blocks=70, block_bytes=1.32, cache_bytes=0.11)



def test_num_blocks_is_the_cache_reservation_rule():
    me = ServerSpec("a", memory=3.3, comm_time=0.1, block_time=0.1)
    model = ModelSpec(num_blocks=10, block_bytes=1.0, cache_bytes=0.1)
    # 3.3 / (1 + 0.1·1) = 3 exactly; a naive float floor gives 2.
    assert num_blocks_for(me, model, 1) == 3 == blocks_for_reservation(3.3, model, 1)
    assert num_blocks_for(me, model, 100) == 0


def test_swarm_reservation_is_the_most_common_c():
    assert swarm_reservation([]) is None
    assert swarm_reservation([0, 0]) is None
    assert swarm_reservation([7, 7, 9]) == 7
    assert swarm_reservation([7, 9]) == 9


def test_choose_reservation_is_c_star_without_history():
    servers = paper_servers(20, 0.2, seed=1, max_rtt_s=0.06)
    assert choose_reservation(servers, BLOOM, 0.6) == choose_c(servers, BLOOM, 0.6)[0]


def test_choose_reservation_keeps_current_c_within_hysteresis():
    for seed in range(10):
        servers = paper_servers(20, 0.2, seed=seed, max_rtt_s=0.06)
        best = choose_c(servers, BLOOM, 0.2)[0]
        best_bound = evaluate_c(servers, BLOOM, best, 0.2).lower_bound
        bounds = {c: evaluate_c(servers, BLOOM, c, 0.2).lower_bound for c in range(1, 40) if c != best}
        close = [c for c, b in bounds.items() if b <= best_bound * (1 + RESERVATION_HYSTERESIS)]
        far = [c for c, b in bounds.items() if b > best_bound * (1 + RESERVATION_HYSTERESIS) * 1.001]
        if close and far:
            break
    assert close and far
    assert choose_reservation(servers, BLOOM, 0.2, current=close[0]) == close[0]
    assert choose_reservation(servers, BLOOM, 0.2, current=far[0]) == best


def test_choose_reservation_keeps_current_while_no_c_is_stable():
    few = paper_servers(2, 0.5, seed=0, max_rtt_s=0.06)  # cannot host 70 blocks at any c
    assert choose_reservation(few, BLOOM, 0.6, current=11) == 11


def test_choose_reservation_projects_a_young_swarm():
    """Without history, a swarm too small to cover the model gets c* of the fewest copies of its
    servers that have one: the c it will want once more nodes like these arrive."""
    few = paper_servers(2, 0.5, seed=0, max_rtt_s=0.06)
    for copies in range(2, 64):
        repeated = [
            ServerSpec(f"{s.name}-{k}", s.memory, s.comm_time, s.block_time)
            for s in few
            for k in range(copies)
        ]
        try:
            expected = choose_c(repeated, BLOOM, 0.6)[0]
            break
        except InfeasiblePlacement:
            continue
    assert copies > 2
    assert choose_reservation(few, BLOOM, 0.6) == expected


def test_choose_reservation_maximizes_service_rate_when_overloaded():
    servers = paper_servers(8, 0.25, seed=3, max_rtt_s=0.06)
    rate = 50.0  # far beyond what 8 servers serve
    c = choose_reservation(servers, BLOOM, rate)
    nu = {
        k: sum(ch.capacity * ch.rate for ch in evaluate_c(servers, BLOOM, k, rate).chains) for k in (1, 4, c)
    }
    assert nu[c] >= max(nu.values())


@settings(max_examples=40, deadline=None)
@given(servers_and_model(max_servers=6, max_blocks=8), st.floats(0.01, 2.0))
def test_sticky_plan_without_history_is_gbp_cr(instance, rate):
    servers, model = instance
    c = 1
    if sum(blocks_for_reservation(s.memory, model, c) for s in servers) < model.num_blocks:
        return
    # The rules round their inputs (view.rounded_servers); GBP-CR on the same rounded servers.
    assert sticky_plan(servers, {}, model, c, rate)[-1] == gbp_cr(rounded_servers(servers), model, c, rate)


def test_sticky_plan_keeps_servers_that_are_in_place():
    """A newcomer a little faster than everyone sorts first in GBP-CR and shifts every slot; the
    sticky plan leaves the placed servers where they are and gives the newcomer a free slot."""
    servers = [ServerSpec(f"srv{i:02d}", 20, 1.0 + 0.001 * i, 0.175) for i in range(16)]
    c = 8
    old = gbp_cr(servers, BLOOM, c, math.inf)
    newcomer = ServerSpec("new", memory=20, comm_time=0.99, block_time=0.175)
    shifted = gbp_cr([*servers, newcomer], BLOOM, c, math.inf)
    assert sum(shifted[n] != old[n] for n in old) > 5
    plan = sticky_plan([*servers, newcomer], old, BLOOM, c, math.inf)[-1]
    assert [n for n in old if plan[n] != old[n]] == []
    assert plan["new"].count == num_blocks_for(newcomer, BLOOM, c)


def test_plan_target_stays_put_at_the_centralized_plan():
    servers = paper_servers(20, 0.2, seed=4, max_rtt_s=0.06)
    c, placement, _ = choose_c(servers, BLOOM, 0.6)
    target = plan_target(servers, placement, BLOOM, c, 0.6)
    assert target.movers == ()
    assert target.placement == placement


def test_reachable_never_opens_a_gap_in_a_covered_swarm():
    model = ModelSpec(num_blocks=6, block_bytes=1, cache_bytes=0.1)
    base = {"a": Span(0, 3), "b": Span(3, 3)}
    # Swapping a and b would leave blocks uncovered after either first move.
    assert reachable(base, {"a": Span(3, 3), "b": Span(0, 3)}, model) == base
    # With a spare c covering 0..3, a can move first, then b.
    spare = {**base, "c": Span(0, 3)}
    assert reachable(spare, {"a": Span(3, 3), "b": Span(0, 3)}, model) == {
        "a": Span(3, 3),
        "b": Span(0, 3),
        "c": Span(0, 3),
    }


def test_swarm_score_orders_uncovered_then_overloaded_then_bound():
    servers = paper_servers(20, 0.2, seed=5, max_rtt_s=0.06)
    c, placement, _ = choose_c(servers, BLOOM, 0.2)
    good = swarm_score(servers, BLOOM, placement, 0.2)
    assert good.uncovered == 0 and not good.overloaded and good.value > 0
    first = sorted(placement)[0]
    gap = swarm_score(servers, BLOOM, {n: s for n, s in placement.items() if n != first}, 0.2)
    overloaded = swarm_score(servers, BLOOM, placement, 1000.0)
    assert overloaded.overloaded
    assert good < overloaded < gap or uncovered_blocks(placement, BLOOM) == 0 and good < overloaded
    assert SwarmScore(0, False, 10.0).gain_over(SwarmScore(0, False, 20.0)) == pytest.approx(0.5)
    assert SwarmScore(0, False, 10.0).gain_over(SwarmScore(3, False, 0.0)) == math.inf


def test_choose_start_fills_the_gap_a_leaver_left():
    servers = paper_servers(20, 0.2, seed=6, max_rtt_s=0.06)
    c, placement, _ = choose_c(servers, BLOOM, 0.6)
    spec = {s.name: s for s in servers}
    leaver = sorted(placement)[len(placement) // 2]
    others = {n: (spec[n], s) for n, s in placement.items() if n != leaver}
    twin = ServerSpec("twin", spec[leaver].memory, spec[leaver].comm_time, spec[leaver].block_time)
    assert choose_start(twin, others, BLOOM, c, 0.6) == placement[leaver]


def test_choose_start_is_the_same_for_the_same_view():
    """Order of the records and float noise below the rounding do not change the answer."""
    servers = paper_servers(12, 0.25, seed=7, max_rtt_s=0.06)
    c, placement, _ = choose_c(servers, BLOOM, 0.6)
    spec = {s.name: s for s in servers}
    me = ServerSpec("me", 40, 0.7, 0.109)
    view = {n: (spec[n], s) for n, s in placement.items()}
    noisy = {
        n: (ServerSpec(s.name, s.memory, s.comm_time * (1 + 1e-12), s.block_time), span)
        for n, (s, span) in reversed(list(view.items()))
    }
    first = choose_start(me, view, BLOOM, c, 0.6)
    assert choose_start(me, noisy, BLOOM, c, 0.6) == first
    assert choose_start(me, dict(reversed(list(view.items()))), BLOOM, c, 0.6) == first
    assert first.count == num_blocks_for(me, BLOOM, c)


def test_choose_start_for_a_node_too_small_for_the_reservation():
    tiny = ServerSpec("tiny", memory=1.0, comm_time=0.5, block_time=0.1)
    assert choose_start(tiny, {}, BLOOM, 7, 0.6) == Span(0, 0)


def test_best_response_covers_uncovered_blocks_first():
    model = ModelSpec(num_blocks=12, block_bytes=1, cache_bytes=0.1)
    a = ServerSpec("a", 4.4, 0.1, 0.1)
    others = {"a": (a, Span(0, 4)), "b": (ServerSpec("b", 4.4, 0.1, 0.1), Span(8, 4))}
    me = ServerSpec("me", 4.4, 0.1, 0.1)
    assert best_response(me, 4, others, model, 0.1) == Span(4, 4)
