"""A leave costs few reloads: chains laid to keep members in place (tile_chain), spare servers
moved into the hole (repair_plan), and the agreed target that picks between them."""

import math

import pytest

from chainswarm.placement import ModelSpec, ServerSpec, Span, choose_c, response_time_bounds
from chainswarm.placement.repair import hole_starts, repair_plan, spare_servers
from chainswarm.placement.score import swarm_score, uncovered_blocks
from chainswarm.placement.sticky import plan_target, sticky_plan, tile_chain
from chainswarm.sim.churn import run_churn
from tests.placement.builders import paper_servers
from tests.placement.test_decentralized_churn import join_order

BLOOM = ModelSpec(num_blocks=70, block_bytes=1.32, cache_bytes=0.11)
SMALL = ModelSpec(num_blocks=12, block_bytes=1.0, cache_bytes=0.1)


def test_a_hole_in_a_chain_is_filled_by_the_duplicate_not_by_shifting():
    """Six equal servers of 2 blocks, one chain with a hole at 4..6 and two servers at 10..12.
    GBP-CR order would shift d, e, f down one slot each; the tiling moves one of the twins."""
    servers = [ServerSpec(n, 2.2, 0.1, 0.1) for n in "abdefg"]
    current = {n: Span(x, 2) for n, x in zip("abdefg", (0, 2, 6, 8, 10, 10), strict=True)}
    plan = sticky_plan(servers, current, SMALL, 1, 0.01)[0]
    moved = {n: s for n, s in plan.items() if current[n] != s}
    assert list(moved.values()) == [Span(4, 2)]
    assert set(moved) <= {"f", "g"}
    assert uncovered_blocks(plan, SMALL) == 0


def test_tile_chain_keeps_every_member_that_can_stay():
    current = {"a": Span(0, 4), "b": Span(8, 4), "c": Span(4, 4)}
    assert tile_chain([("b", 4), ("a", 4), ("c", 4)], current, 12) == current
    # A newcomer takes the free slot; nobody placed moves.
    spans = tile_chain([("new", 4), ("a", 4), ("b", 4)], current, 12)
    assert spans == {"a": Span(0, 4), "new": Span(4, 4), "b": Span(8, 4)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_leave_from_a_one_chain_swarm_costs_one_reload(seed):
    """J = 10 at λ = 0.6: the centralized plan is one chain plus spare blocks; whichever member
    leaves (uncovering its blocks), the agreed target at the same c covers the model again
    with one reload and is as good as the centralized plan over the servers left."""
    servers = paper_servers(10, 0.3, seed=seed, max_rtt_s=0.06)
    c, placement, _ = choose_c(servers, BLOOM, 0.6)
    leavers = [
        n
        for n in sorted(placement)
        if uncovered_blocks({k: s for k, s in placement.items() if k != n}, BLOOM)
    ]
    assert leavers
    for leaver in leavers:
        rest = {n: s for n, s in placement.items() if n != leaver}
        fleet = [s for s in servers if s.name != leaver]
        central = response_time_bounds(choose_c(fleet, BLOOM, 0.6)[2], 0.6)[0]
        target = plan_target(fleet, rest, BLOOM, c, 0.6)
        assert len(target.reloads) == 1
        assert target.score.uncovered == 0 and not target.score.overloaded
        assert target.score.value <= central * 1.01


def two_chains_and_a_spare():
    """Chain A (fast) and chain B (slow) of three 4-block servers each, and a slower spare that
    no chain needs; λ needs both chains (one alone is overloaded)."""
    fast = [ServerSpec(f"a{i}", 4.4, 0.1, 0.1) for i in range(3)]
    slow = [ServerSpec(f"b{i}", 4.4, 0.1, 0.2) for i in range(3)]
    spare = ServerSpec("spare", 4.4, 0.1, 0.3)
    spans = {f"a{i}": Span(4 * i, 4) for i in range(3)} | {f"b{i}": Span(4 * i, 4) for i in range(3)}
    return [*fast, *slow, spare], {**spans, "spare": Span(0, 4)}


def test_a_spare_fills_the_hole_and_the_working_chain_stays():
    servers, spans = two_chains_and_a_spare()
    assert spare_servers(servers, spans, SMALL) == ["spare"]
    left = [s for s in servers if s.name != "a1"]
    rest = {n: s for n, s in spans.items() if n != "a1"}
    assert swarm_score(left, SMALL, rest, 0.8).overloaded
    # GCA now runs one chain a0 → b1 → a2; b0, b2 and the spare serve none. The fastest of them
    # fills the hole; nobody in the working chain moves.
    assert spare_servers(left, rest, SMALL) == ["b0", "b2", "spare"]
    assert repair_plan(left, rest, SMALL, 0.8) == {"b0": Span(4, 4)}
    target = plan_target(left, rest, SMALL, 1, 0.8)
    assert target.reloads == ("b0",)
    assert not target.score.overloaded


def test_no_repair_when_nothing_is_spare_or_nothing_pays():
    servers, spans = two_chains_and_a_spare()
    # At rest, moving the spare anywhere gains less than its reload is charged.
    assert repair_plan(servers, spans, SMALL, 0.8) == {}
    # Uncovered, and the servers whose blocks others host hold fewer blocks than are missing.
    tight = {"a0": Span(0, 4), "a1": Span(4, 4), "b0": Span(0, 2)}
    tiny = [ServerSpec("a0", 4.4, 0.1, 0.1), ServerSpec("a1", 4.4, 0.1, 0.1), ServerSpec("b0", 2.2, 0.1, 0.1)]
    assert spare_servers(tiny, tight, SMALL) == []
    assert repair_plan(tiny, tight, SMALL, 0.1) == {}


def test_hole_starts_line_up_with_the_least_hosted_run():
    placement = {"a": Span(0, 4), "b": Span(4, 4), "c": Span(0, 4), "d": Span(8, 4), "e": Span(8, 4)}
    assert hole_starts(placement, SMALL, 4) == [4]
    assert hole_starts(placement, SMALL, 2) == [4, 6]
    assert hole_starts(placement, SMALL, 8) == [0, 4]


@pytest.mark.parametrize(("eta", "rate", "seed"), [(0.4, 0.2, 0), (0.3, 0.6, 2), (0.2, 0.2, 2)])
def test_leaves_in_a_small_swarm_cost_about_one_reload(eta, rate, seed):
    """The paper's J = 10 swarm, two leaves: at most one reload per leave on average, and the
    swarm within 5% of the centralized plan afterwards (each point cost 2.5–4.5 before)."""
    result = run_churn("sticky", join_order(10, eta, seed), BLOOM, rate, leaves=2, seed=seed)
    assert result.per_event("leave") <= 1.0
    assert math.isfinite(result.after_leaves.centralized)
    assert result.after_leaves.ratio <= 1.05
