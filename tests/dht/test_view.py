"""The rules every reader of the swarm applies, on hand-built records (no DHT, no hivemind)."""

from __future__ import annotations

import subprocess
import sys

from chainswarm.dht.records import LoadRecord, MovingLease, NodeState
from chainswarm.dht.view import SwarmView, consensus, lease_holder, misfit, record_owner, total_arrival_rate
from tests.dht.builders import make_node, make_spec, peer


def test_the_view_imports_without_hivemind():
    code = "import sys, chainswarm.dht.view; assert 'hivemind' not in sys.modules, 'hivemind imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_consensus_is_the_majority_spec_with_ties_to_the_smallest_announcer():
    a, b = make_spec(), make_spec(max_length=1024)
    assert consensus({}) is None
    assert consensus({peer("C"): a, peer("A"): b, peer("B"): a}) == a
    assert consensus({peer("B"): a, peer("A"): b}) == b
    assert consensus({peer("A"): a, peer("B"): b}) == a


def test_lease_holder_is_the_earliest_active_claim_with_ties_to_the_smaller_peer():
    released = MovingLease(peer_id=peer("A"), since=10.0, until=10.0)
    expired = MovingLease(peer_id=peer("B"), since=11.0, until=15.0)
    later = MovingLease(peer_id=peer("C"), since=13.0, until=30.0)
    tied = MovingLease(peer_id=peer("D"), since=12.0, until=30.0)
    first = MovingLease(peer_id=peer("E"), since=12.0, until=30.0)
    assert lease_holder([released, expired], now=20.0) is None
    assert lease_holder([released, expired, later, first, tied], now=20.0) == tied
    assert lease_holder([expired, later], now=14.0) == expired


def test_misfit_names_a_differing_spec_or_a_span_beyond_the_swarm():
    spec = make_spec()
    assert misfit(make_node(peer("A"), 0, 9), None, None) is None
    assert misfit(make_node(peer("A"), 0, 8), spec, spec) is None
    assert "max_length: 512 != 1024" in misfit(make_node(peer("A"), 0, 8), spec, make_spec(max_length=1024))
    assert misfit(make_node(peer("A"), 0, 9), spec, None) == "end 9 > num_blocks 8"


def test_record_owner_is_the_subkey_a_record_must_sit_under():
    load = LoadRecord(client_id="client-1", arrival_rate=1.0, window_s=30.0, updated_at=100.0)
    assert record_owner(make_node(peer("A"), 0, 8)) == peer("A")
    assert record_owner(MovingLease(peer_id=peer("B"), since=1.0, until=2.0)) == peer("B")
    assert record_owner(load) == "client-1"
    assert record_owner(make_spec()) is None


def test_coverage_without_a_spec_runs_to_the_furthest_end_and_counts_online_nodes_only():
    nodes = [make_node(peer("A"), 0, 3), make_node(peer("B"), 2, 5),
             make_node(peer("C"), 0, 6, state=NodeState.JOINING)]
    view = SwarmView(
        prefix="chainswarm.tiny",
        spec=None,
        specs={},
        nodes={n.peer_id: n for n in nodes},
        loads={},
        lease=None,
        read_at=100.0,
    )
    assert view.num_blocks == 6
    assert view.coverage() == [1, 1, 2, 1, 1, 0] and view.uncovered() == [5]
    assert [n.peer_id for n in view.nodes_in(NodeState.JOINING, NodeState.ONLINE)] == sorted(view.nodes)
    assert total_arrival_rate(view, default_rate=2.5) == 2.5
