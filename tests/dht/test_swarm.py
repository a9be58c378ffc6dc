"""The swarm facade against real hivemind peers on 127.0.0.1 (see conftest.py for the swarm)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from hivemind.utils import get_dht_time

from chainswarm.dht.keys import MODEL_INDEX_KEY
from chainswarm.dht.peer import SwarmConnectionError, own_peer_id, start_dht
from chainswarm.dht.records import LoadRecord, NodeState
from chainswarm.dht.swarm import SwarmDHT, list_models
from chainswarm.dht.view import total_arrival_rate
from tests.dht.builders import make_node, make_spec

pytestmark = pytest.mark.swarm

LONG_S = 60.0
"""Expiration for records a test does not expect to expire."""


def facades(swarm, prefix: str, **options: Any) -> tuple[SwarmDHT, SwarmDHT, SwarmDHT, SwarmDHT]:
    boot, a, b, reader = (SwarmDHT(dht, prefix, **options) for dht in swarm)
    return boot, a, b, reader


def test_reader_sees_every_peers_records(swarm, prefix):
    boot, a, b, reader = facades(swarm, prefix)
    spec = make_spec()
    assert a.announce_node(make_node(a.peer_id, 0, 5), LONG_S)
    assert b.announce_node(make_node(b.peer_id, 3, 8, state=NodeState.JOINING), LONG_S)
    assert a.announce_spec(spec, LONG_S) and b.announce_spec(spec, LONG_S)
    load = LoadRecord(client_id="client-1", arrival_rate=0.75, window_s=30.0, updated_at=get_dht_time())
    assert boot.publish_load(load, LONG_S)

    view = reader.read_swarm()
    assert view.spec == spec and set(view.specs) == {a.peer_id, b.peer_id}
    assert set(view.nodes) == {a.peer_id, b.peer_id}
    assert (view.nodes[b.peer_id].start, view.nodes[b.peer_id].end) == (3, 8)
    assert view.loads == {"client-1": load} and view.lease is None and view.rejected == {}
    assert [n.peer_id for n in view.online_nodes()] == [a.peer_id]
    assert [n.peer_id for n in view.nodes_in(NodeState.ONLINE, NodeState.JOINING)] == sorted(view.nodes)
    assert view.coverage() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert view.uncovered() == [5, 6, 7]
    assert total_arrival_rate(view, default_rate=9.0) == 0.75
    assert list_models(swarm[3])[prefix] == spec

    with pytest.raises(ValueError, match="not this DHT peer's id"):
        a.announce_node(make_node(b.peer_id, 3, 8), LONG_S)
    assert b.announce_node(make_node(b.peer_id, 3, 8), LONG_S)
    view = reader.read_swarm()
    assert view.coverage() == [1, 1, 1, 2, 2, 1, 1, 1] and view.uncovered() == []


def test_reannouncing_within_one_clock_tick_still_replaces_the_record(swarm, prefix):
    frozen = get_dht_time()
    a = SwarmDHT(swarm[1], prefix, clock=lambda: frozen)
    assert a.announce_node(make_node(a.peer_id, 0, 8, cache_slots_free=20), LONG_S)
    assert a.announce_node(make_node(a.peer_id, 0, 8, cache_slots_free=7), LONG_S)
    assert SwarmDHT(swarm[3], prefix).read_swarm().nodes[a.peer_id].cache_slots_free == 7


def test_malformed_and_foreign_records_are_dropped_with_a_logged_reason(swarm, prefix, caplog):
    boot, a, b, reader = facades(swarm, prefix)
    for facade in (boot, a):
        facade.announce_spec(make_spec(), LONG_S)
    b.announce_spec(make_spec(max_length=1024), LONG_S)
    a.announce_node(make_node(a.peer_id, 0, 8), LONG_S)
    b.announce_node(make_node(b.peer_id, 0, 8), LONG_S)
    expires = get_dht_time() + LONG_S
    good_wire = make_node(a.peer_id, 0, 8).to_wire()
    raw = {
        "BadPeer1": dict(good_wire, peer_id="BadPeer1", start=6, end=2),
        "BadPeer2": "not a record",
        "BadPeer3": good_wire,  # a valid record stored under someone else's subkey
        "BadPeer4": dict(good_wire, peer_id="BadPeer4", end=9),  # beyond the spec's 8 blocks
    }
    for subkey, value in raw.items():
        assert swarm[0].store(reader.keys.nodes, value, expires, subkey=subkey)

    with caplog.at_level(logging.WARNING, logger="chainswarm.dht.swarm"):
        view = reader.read_swarm()
    assert set(view.nodes) == {a.peer_id}
    assert view.spec == make_spec()
    reasons = {where.split("[", 1)[1]: reason for where, reason in view.rejected.items()}
    assert "start 6 must be < end 2" in reasons["BadPeer1]"]
    assert "expected a dict" in reasons["BadPeer2]"]
    assert "does not match its subkey" in reasons["BadPeer3]"]
    assert reasons["BadPeer4]"] == "end 9 > num_blocks 8"
    assert "max_length: 512 != 1024" in reasons[f"{b.peer_id}]"]
    logged = [r.getMessage() for r in caplog.records if r.name == "chainswarm.dht.swarm"]
    assert len(logged) == 5 and all(message.startswith("dropping ") for message in logged)

    assert swarm[0].store(MODEL_INDEX_KEY, {"junk": 1}, expires, subkey=prefix + "-bogus")
    models = list_models(swarm[3])
    assert models[prefix].model_id == "tiny-llama" and prefix + "-bogus" not in models


def test_an_expired_record_disappears(swarm, prefix):
    _, a, b, reader = facades(swarm, prefix)
    a.announce_node(make_node(a.peer_id, 0, 8), LONG_S)
    b.announce_node(make_node(b.peer_id, 0, 8), expiration_s=1.5)
    assert set(reader.read_swarm().nodes) == {a.peer_id, b.peer_id}
    time.sleep(1.6)
    assert set(reader.read_swarm().nodes) == {a.peer_id}


def test_the_lease_is_exclusive_released_and_expires(swarm, prefix):
    _, a, b, reader = facades(swarm, prefix, lease_settle_s=0.2)
    assert a.try_acquire_lease(duration_s=2.0)
    assert a.try_acquire_lease(duration_s=2.0)  # still ours
    assert not b.try_acquire_lease(duration_s=2.0)
    assert reader.read_swarm().lease.peer_id == a.peer_id
    a.release_lease()
    assert reader.read_swarm().lease is None
    assert b.try_acquire_lease(duration_s=1.0)
    assert not a.try_acquire_lease(duration_s=1.0)
    time.sleep(max(0.0, reader.read_swarm().lease.until - get_dht_time()) + 0.05)
    assert reader.read_swarm().lease is None
    assert a.try_acquire_lease(duration_s=1.0)


def test_simultaneous_claims_have_one_winner(swarm, prefix):
    _, a, b, reader = facades(swarm, prefix, lease_settle_s=0.3)
    results: dict[str, bool] = {}
    start = threading.Barrier(2)

    def claim(facade: SwarmDHT) -> None:
        start.wait()
        results[facade.peer_id] = facade.try_acquire_lease(duration_s=5.0)

    a.peer_id, b.peer_id  # noqa: B018 - fetch ids before the race so both threads start together
    threads = [threading.Thread(target=claim, args=(f,)) for f in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(results.values()) == [False, True]
    winner = next(peer for peer, won in results.items() if won)
    assert reader.read_swarm().lease.peer_id == winner


async def test_reads_from_an_event_loop_through_a_thread(swarm, prefix):
    _, a, _, reader = facades(swarm, prefix)
    await asyncio.to_thread(a.announce_node, make_node(a.peer_id, 0, 8), LONG_S)
    views = await asyncio.gather(*(asyncio.to_thread(reader.read_swarm) for _ in range(3)))
    assert all(set(view.nodes) == {a.peer_id} for view in views)


def test_unreachable_initial_peer_gives_a_clear_error(swarm):
    dead = f"/ip4/127.0.0.1/tcp/9/p2p/{own_peer_id(swarm[0])}"
    with pytest.raises(SwarmConnectionError, match="could not join the swarm through /ip4/127.0.0.1/tcp/9"):
        start_dht([dead], nat_traversal=False, start_timeout_s=20)
