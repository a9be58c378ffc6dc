"""Recent swarm events, found by diffing consecutive reads of one model's swarm.

The DHT keeps only current records, so what happened between two reads is inferred: a peer id
that appears has joined; one whose state turns online finished loading; draining and offline are
announced departures; a record that vanishes without an offline announcement expired (the node
crashed or lost its network); a changed span is a block move. Events between two reads that
cancel out (join then crash) are not seen: the monitor's refresh period bounds what it resolves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chainswarm.dht.records import NodeState
from chainswarm.monitor.collect import ModelHealth, NodeRow, short_peer_id

MAX_EVENTS = 200
"""Events the monitor keeps, newest first; a few hours of churn on a busy swarm."""

_GONE = (NodeState.OFFLINE.value,)


class EventKind(StrEnum):
    JOINED = "joined"
    ONLINE = "online"
    DRAINING = "draining"
    LEFT = "left"
    EXPIRED = "expired"
    MOVED = "moved"


@dataclass(frozen=True)
class Event:
    """``kind`` happened to ``peer_id`` in model ``model`` between two reads; ``at`` is the later
    read's DHT time; ``detail`` is one line for people."""

    at: float
    model: str
    kind: EventKind
    peer_id: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "model": self.model, "kind": self.kind.value, "peer_id": self.peer_id,
                "detail": self.detail}


def diff_health(before: ModelHealth, after: ModelHealth) -> list[Event]:
    """Events that turn ``before``'s nodes into ``after``'s, ordered by peer id within a kind."""
    old = {n.peer_id: n for n in before.nodes}
    new = {n.peer_id: n for n in after.nodes}
    events: list[Event] = []

    def add(kind: EventKind, node: NodeRow, detail: str) -> None:
        events.append(Event(after.read_at, after.label, kind, node.peer_id, f"{_name(node)} {detail}"))

    for peer_id in sorted(old.keys() - new.keys()):
        node = old[peer_id]
        if node.state not in _GONE:
            add(EventKind.EXPIRED, node, f"vanished while {node.state} on {_blocks(node)} (no offline announcement)")
    for peer_id in sorted(new):
        node, prev = new[peer_id], old.get(peer_id)
        if prev is None or (prev.state in _GONE and node.state not in _GONE):
            if node.state not in _GONE:
                add(EventKind.JOINED, node, f"joined as {node.state} on {_blocks(node)}")
            continue
        if (prev.start, prev.end) != (node.start, node.end):
            add(EventKind.MOVED, node, f"moved from {_blocks(prev)} to {_blocks(node)}")
        if prev.state == node.state:
            continue
        if node.state == NodeState.ONLINE.value:
            add(EventKind.ONLINE, node, f"online on {_blocks(node)}")
        elif node.state == NodeState.DRAINING.value:
            add(EventKind.DRAINING, node, f"draining {_blocks(node)} (no new sessions)")
        elif node.state == NodeState.OFFLINE.value:
            add(EventKind.LEFT, node, f"left {_blocks(node)}")
    return events


class EventLog:
    """The last ``max_events`` events over all models, fed one read per model at a time.

    The first read of a model is a baseline and yields no events (its nodes were there before
    the monitor started, not joined).
    """

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._last: dict[str, ModelHealth] = {}
        self._events: deque[Event] = deque(maxlen=max_events)

    def observe(self, health: ModelHealth) -> list[Event]:
        """Record ``health`` as the latest read of its model; the events since the previous read."""
        before = self._last.get(health.prefix)
        self._last[health.prefix] = health
        events = diff_health(before, health) if before is not None else []
        self._events.extend(events)
        return events

    def recent(self) -> list[Event]:
        """Newest first."""
        return list(reversed(self._events))


def _blocks(node: NodeRow) -> str:
    return f"[{node.start}, {node.end})"


def _name(node: NodeRow) -> str:
    short = short_peer_id(node.peer_id)
    return f"{node.public_name} ({short})" if node.public_name else short
