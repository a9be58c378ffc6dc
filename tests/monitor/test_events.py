"""Events found by diffing consecutive reads: joined, online, draining, left, expired, moved."""

from __future__ import annotations

from chainswarm.dht.records import NodeState
from chainswarm.monitor.collect import collect
from chainswarm.monitor.events import EventKind, EventLog, diff_health
from tests.monitor.conftest import node, peer, view


def kinds(before, after) -> list[tuple[EventKind, str]]:
    return [(e.kind, e.peer_id) for e in diff_health(collect(before), collect(after))]


def test_join_then_online() -> None:
    base = view(node("A", 0, 6))
    joined = view(node("A", 0, 6), node("B", 0, 3, state=NodeState.JOINING))
    online = view(node("A", 0, 6), node("B", 0, 3))
    assert kinds(base, joined) == [(EventKind.JOINED, peer("B"))]
    assert kinds(joined, online) == [(EventKind.ONLINE, peer("B"))]
    assert kinds(online, online) == []


def test_announced_departure_then_silence() -> None:
    online = view(node("A", 0, 6), node("B", 0, 3))
    draining = view(node("A", 0, 6), node("B", 0, 3, state=NodeState.DRAINING))
    offline = view(node("A", 0, 6), node("B", 0, 3, state=NodeState.OFFLINE))
    gone = view(node("A", 0, 6))
    assert kinds(online, draining) == [(EventKind.DRAINING, peer("B"))]
    assert kinds(draining, offline) == [(EventKind.LEFT, peer("B"))]
    assert kinds(offline, gone) == []  # its offline record expiring is not news


def test_vanishing_without_offline_is_expiry() -> None:
    before = view(node("A", 0, 3), node("B", 3, 6), node("C", 0, 6, state=NodeState.DRAINING))
    after = view(node("A", 0, 3))
    events = diff_health(collect(before), collect(after))
    assert [(e.kind, e.peer_id) for e in events] == [(EventKind.EXPIRED, peer("B")), (EventKind.EXPIRED, peer("C"))]
    assert "[3, 6)" in events[0].detail and events[0].model == "org/tiny"


def test_moved_blocks_and_rejoin_after_offline() -> None:
    before = view(node("A", 0, 3), node("B", 3, 6, state=NodeState.OFFLINE))
    after = view(node("A", 2, 5, state=NodeState.JOINING), node("B", 3, 6))
    assert kinds(before, after) == [(EventKind.MOVED, peer("A")), (EventKind.JOINED, peer("B"))]


def test_log_starts_from_a_baseline_and_keeps_newest_first() -> None:
    log = EventLog(max_events=2)
    assert log.observe(collect(view(node("A", 0, 6), read_at=1.0))) == []
    log.observe(collect(view(node("A", 0, 6), node("B", 0, 6), read_at=2.0)))
    log.observe(collect(view(node("B", 0, 6), read_at=3.0)))
    log.observe(collect(view(node("B", 0, 6), node("C", 0, 6), read_at=4.0)))
    assert [(e.at, e.kind, e.peer_id) for e in log.recent()] == [
        (4.0, EventKind.JOINED, peer("C")), (3.0, EventKind.EXPIRED, peer("A"))]
