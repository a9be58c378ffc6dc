from chainswarm.routing.hop import Hop
from chainswarm.routing.petals import petals_route
from tests.routing.test_chains import PEERS, node


def test_min_latency_route_prefers_fewer_hops_then_nodes_with_free_cache() -> None:
    whole = node("A", 0, 4, 8)
    halves = [node("B", 0, 2, 8), node("C", 2, 4, 8)]
    assert petals_route([whole, *halves], 4, {}) == [Hop(PEERS["A"], 0, 4)]
    full = whole.replace(cache_slots_free=3)  # fewer free slots than its 4 blocks: +10 s penalty
    assert petals_route([full, *halves], 4, {}) == [Hop(PEERS["B"], 0, 2), Hop(PEERS["C"], 2, 4)]


def test_a_gap_gives_no_route() -> None:
    assert petals_route([node("A", 0, 2, 8), node("B", 3, 4, 8)], 4, {}) is None
