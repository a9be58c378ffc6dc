"""A typed facade over hivemind's DHT for one model's swarm: announce records, read the view.

Contract (inherited from hivemind, reference/hivemind.md): a value lives until its expiration
time; of two values under one key and subkey the later expiration wins, and a store whose
expiration is not strictly later than the one held is rejected, so this facade keeps the last
expiration it used per (key, subkey) and always goes past it. Reads use ``latest=True`` so that
subkeys from every replica are merged. Everything a peer wrote is validated on read and dropped,
with a logged reason, when malformed. All calls block for at most ``timeout_s``; from async code
call them through ``asyncio.to_thread``. What a read returns, ``SwarmView``, and the rules
readers agree by live in ``view.py`` (no hivemind); they are re-exported here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from hivemind import DHT
from hivemind.dht.node import DHTNode
from hivemind.utils import ValueWithExpiration, get_dht_time

from chainswarm.dht.keys import MODEL_INDEX_KEY, SwarmKeys
from chainswarm.dht.peer import DEFAULT_CALL_TIMEOUT_S, own_peer_id, run_in_dht
from chainswarm.dht.records import LoadRecord, MovingLease, NodeRecord, RecordError, SwarmSpec
from chainswarm.dht.rejoin import RedialReport, Rejoiner
from chainswarm.dht.view import SwarmView, consensus, lease_holder, misfit, record_owner, total_arrival_rate

__all__ = [
    "EXPIRATION_STEP_S",
    "LEASE_SETTLE_S",
    "SwarmDHT",
    "SwarmView",
    "list_models",
    "total_arrival_rate",
]

logger = logging.getLogger(__name__)

EXPIRATION_STEP_S = 1e-3
"""How far past the previous expiration a re-store goes when the clock has not moved enough."""

LEASE_SETTLE_S = 1.0
"""Wait between writing a lease claim and reading the claims back, so that a rival's claim
written at about the same time has landed; a WAN store takes well under a second."""

R = TypeVar("R", NodeRecord, SwarmSpec, LoadRecord, MovingLease)

Entry = tuple[str, str, Any, float]
"""(key, subkey, wire value, expiration time) of one store."""


class SwarmDHT:
    """Announce and read the shared state of the swarm under one key prefix (see ``keys.py``).

    Which process may call: the one that created ``dht`` (hivemind's rule), from any thread.
    ``clock`` returns DHT time; tests may pass their own.
    """

    def __init__(
        self,
        dht: DHT,
        prefix: str,
        *,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        lease_settle_s: float = LEASE_SETTLE_S,
        clock: Callable[[], float] = get_dht_time,
    ) -> None:
        self.dht = dht
        self.keys = SwarmKeys(prefix)
        self.timeout_s = timeout_s
        self.lease_settle_s = lease_settle_s
        self.clock = clock
        self._last_expiration: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()
        self._peer_id: str | None = None
        self._rejoiner = Rejoiner(dht, timeout_s=timeout_s)

    @classmethod
    def for_model(cls, dht: DHT, model_id: str, **options: Any) -> SwarmDHT:
        return cls(dht, SwarmKeys.for_model(model_id).prefix, **options)

    @property
    def peer_id(self) -> str:
        """This DHT peer's id (base58), the subkey of the specs and lease claims it writes."""
        if self._peer_id is None:
            self._peer_id = own_peer_id(self.dht, self.timeout_s)
        return self._peer_id

    def announce_node(self, record: NodeRecord, expiration_s: float) -> bool:
        """Store this peer's ``record`` for ``expiration_s``; False if no replica took it.

        ``record.peer_id`` must be this DHT peer's id (ValueError otherwise): clients dial it,
        and readers match it with the spec this peer announces.
        """
        if record.peer_id != self.peer_id:
            raise ValueError(f"record.peer_id {record.peer_id} is not this DHT peer's id {self.peer_id}")
        entry = self._entry(self.keys.nodes, record.peer_id, record.to_wire(), expiration_s)
        return self._store([entry])[0]

    def announce_spec(self, spec: SwarmSpec, expiration_s: float) -> bool:
        """Store the swarm constants as this peer sees them, and list the model in the index.

        Returns whether the spec was stored; the index entry is shared by every node of the swarm
        and may be refused when another node's copy expires later, which is harmless.
        """
        wire = spec.to_wire()
        entries = [
            self._entry(self.keys.spec, self.peer_id, wire, expiration_s),
            self._entry(MODEL_INDEX_KEY, self.keys.prefix, wire, expiration_s),
        ]
        return self._store(entries)[0]

    def publish_load(self, record: LoadRecord, expiration_s: float) -> bool:
        """Store a client's recent arrival rate under its client id."""
        return self._store([self._entry(self.keys.load, record.client_id, record.to_wire(), expiration_s)])[0]

    def stay_joined(self) -> RedialReport:
        """Ping the DHT's initial peers if they dropped out of its routing table (a restarted
        bootstrap, a partition; see ``rejoin.py``), backing off while they stay away. Cheap when
        nothing is missing (no traffic): call it every announce or refresh period."""
        return self._rejoiner.check()

    def read_swarm(self) -> SwarmView:
        """Nodes, specs, loads and lease in one DHT traversal; expired records are already gone."""
        keys = [self.keys.nodes, self.keys.spec, self.keys.load, self.keys.moving]
        found = run_in_dht(self.dht, partial(_get_latest, keys=keys), self.timeout_s, "reading the swarm")
        now = self.clock()
        rejected: dict[str, str] = {}
        specs = self._parse(found[self.keys.spec], self.keys.spec, SwarmSpec, rejected)
        spec = consensus(specs)
        nodes = self._parse(found[self.keys.nodes], self.keys.nodes, NodeRecord, rejected)
        for peer_id, node in list(nodes.items()):
            reason = misfit(node, spec, specs.get(peer_id))
            if reason is not None:
                self._reject(rejected, self.keys.nodes, peer_id, reason)
                del nodes[peer_id]
        loads = self._parse(found[self.keys.load], self.keys.load, LoadRecord, rejected)
        claims = self._parse(found[self.keys.moving], self.keys.moving, MovingLease, rejected)
        return SwarmView(
            prefix=self.keys.prefix,
            spec=spec,
            specs=specs,
            nodes=nodes,
            loads=loads,
            lease=lease_holder(claims.values(), now),
            read_at=now,
            rejected=rejected,
        )

    def try_acquire_lease(self, duration_s: float) -> bool:
        """Try to become the swarm's only mover for ``duration_s``; True if this peer holds it.

        Claims live under each claimant's subkey; the holder is the active claim with the earliest
        ``since`` (ties: smaller peer id), so all readers agree on it. Steps: return at once if a
        claim holds (True if it is ours; it is not extended); write a claim; wait ``lease_settle_s``; read the claims; withdraw ours if it
        lost. Best-effort, not consensus: exclusivity holds when every claim reaches the readers
        within the settle time and the claimants' clocks differ by less than that; a partitioned
        DHT or a larger clock skew can give two holders. Movers must still never uncover a block.
        """
        holder = self.read_swarm().lease
        if holder is not None:
            return holder.peer_id == self.peer_id
        now = self.clock()
        claim = MovingLease(peer_id=self.peer_id, since=now, until=now + duration_s)
        self._store([self._entry(self.keys.moving, self.peer_id, claim.to_wire(), duration_s)])
        time.sleep(self.lease_settle_s)
        holder = self.read_swarm().lease
        if holder is not None and holder.peer_id == self.peer_id:
            return True
        self.release_lease()
        return False

    def release_lease(self) -> None:
        """Withdraw this peer's claim by overwriting it with an inactive one (subkeys cannot be
        deleted in hivemind); harmless if this peer holds none."""
        now = self.clock()
        released = MovingLease(peer_id=self.peer_id, since=now, until=now)
        self._store([self._entry(self.keys.moving, self.peer_id, released.to_wire(), self.lease_settle_s)])

    def _entry(self, key: str, subkey: str, value: Any, expiration_s: float) -> Entry:
        """An entry expiring ``expiration_s`` from now, strictly after the last one we stored."""
        with self._lock:
            previous = self._last_expiration.get((key, subkey), float("-inf"))
            expiration = max(self.clock() + expiration_s, previous + EXPIRATION_STEP_S)
            self._last_expiration[key, subkey] = expiration
        return key, subkey, value, expiration

    def _store(self, entries: list[Entry]) -> list[bool]:
        """Store in one traversal; whether each entry was accepted."""
        return run_in_dht(
            self.dht, partial(_store_entries, entries=entries), self.timeout_s, f"storing {entries[0][0]}"
        )

    def _parse(
        self, found: ValueWithExpiration | None, key: str, kind: type[R], rejected: dict[str, str]
    ) -> dict[str, R]:
        """Subkey → record of one dictionary value, dropping (and logging) what does not validate."""
        if found is None:
            return {}
        if not isinstance(found.value, dict):
            self._reject(rejected, key, "", f"expected subkeys, got a plain {type(found.value).__name__}")
            return {}
        records: dict[str, R] = {}
        for subkey, item in found.value.items():
            try:
                if not isinstance(subkey, str):
                    raise RecordError(f"subkey {subkey!r:.40} is not a string")
                record = kind.from_wire(item.value)
                owner = record_owner(record)
                if owner is not None and owner != subkey:
                    raise RecordError(f"{kind.__name__}: {owner!r} does not match its subkey")
            except RecordError as e:
                self._reject(rejected, key, subkey, str(e))
                continue
            records[subkey] = record
        return records

    def _reject(self, rejected: dict[str, str], key: str, subkey: object, reason: str) -> None:
        """Record and log a dropped record: a warning the first time, debug on every re-read."""
        label = subkey if isinstance(subkey, str) else repr(subkey)
        where = f"{key}[{label[:128]}]"
        rejected[where] = reason
        level = logging.DEBUG if (where, reason) in self._logged else logging.WARNING
        self._logged.add((where, reason))
        logger.log(level, "dropping %s: %s", where, reason)


def list_models(dht: DHT, timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> dict[str, SwarmSpec]:
    """Prefix → spec of every swarm announced on this DHT, for a monitor's ``--model`` choice.

    Each entry is the spec of whichever node announced last: use it to name the model, and
    ``read_swarm`` for the spec the swarm agrees on. Entries that do not validate are skipped
    (logged at debug level).
    """
    found = run_in_dht(
        dht, partial(_get_latest, keys=[MODEL_INDEX_KEY]), timeout_s, "reading the model index"
    )
    index = found[MODEL_INDEX_KEY]
    models: dict[str, SwarmSpec] = {}
    for prefix, item in (index.value if index is not None and isinstance(index.value, dict) else {}).items():
        try:
            models[str(prefix)] = SwarmSpec.from_wire(item.value)
        except RecordError as e:
            logger.debug("skipping model index entry %r: %s", prefix, e)
    return models


async def _get_latest(_dht: DHT, node: DHTNode, keys: list[str]) -> dict[str, ValueWithExpiration | None]:
    """Runs in the DHT process: the latest value of every key, subkeys merged across replicas."""
    return await node.get_many(keys, sufficient_expiration_time=float("inf"))


async def _store_entries(_dht: DHT, node: DHTNode, entries: list[Entry]) -> list[bool]:
    """Runs in the DHT process: store all entries in one traversal; whether each was accepted."""
    keys, subkeys, values, expirations = (list(column) for column in zip(*entries, strict=True))
    result = await node.store_many(keys, values, expirations, subkeys=subkeys)
    return [bool(result.get((key, subkey))) for key, subkey in zip(keys, subkeys, strict=True)]
