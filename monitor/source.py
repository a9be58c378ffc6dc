"""Which swarms the monitor reads, and reading them: the DHT side of ``health`` and ``monitor``.

Blocking calls (each at most the DHT timeout); from async code go through ``asyncio.to_thread``.
"""

from __future__ import annotations

from hivemind import DHT

from chainswarm.dht.keys import model_prefix
from chainswarm.dht.records import SwarmSpec
from chainswarm.dht.swarm import SwarmDHT, list_models
from chainswarm.dht.view import SwarmView


class ModelChoiceError(ValueError):
    """Several models where one is needed; the message lists them for --model."""


class NoModelAnnounced(ModelChoiceError):
    """The swarm announces no model at all: nothing can be served."""


def model_prefixes(index: dict[str, SwarmSpec], model: str | None) -> list[str]:
    """Key prefixes of the swarms to watch: every indexed one, or the one ``model`` names.

    ``model`` may be a model id or a key prefix from ``index`` (prefix → spec, as ``list_models``
    returns it). A model id the index does not list still maps to its prefix: the index entry may
    have expired while nodes remain, and an empty swarm is itself worth reporting.
    """
    if model is None:
        return sorted(index)
    for prefix, spec in sorted(index.items()):
        if model in (prefix, spec.model_id):
            return [prefix]
    return [model_prefix(model)]


def pick_prefix(index: dict[str, SwarmSpec], model: str | None) -> str:
    """The one swarm a single report is about; :class:`ModelChoiceError` when that is ambiguous,
    :class:`NoModelAnnounced` when there is none."""
    prefixes = model_prefixes(index, model)
    if not prefixes:
        raise NoModelAnnounced("no model is announced on this swarm yet (no node has joined, or "
                               "all records expired); pass --model to check a specific one")
    if len(prefixes) > 1:
        names = ", ".join(sorted(index[p].model_id for p in prefixes))
        raise ModelChoiceError(f"this swarm serves several models ({names}); pick one with --model")
    return prefixes[0]


class SwarmSource:
    """Reads the swarms the monitor watches through one DHT peer (this process's only one).

    Keeps one :class:`SwarmDHT` per prefix; ``model`` is as in :func:`model_prefixes`, re-resolved
    on every read so that models announced after start appear.
    """

    def __init__(self, dht: DHT, model: str | None, timeout_s: float) -> None:
        self.dht = dht
        self.model = model
        self.timeout_s = timeout_s
        self._swarms: dict[str, SwarmDHT] = {}

    def index(self) -> dict[str, SwarmSpec]:
        return list_models(self.dht, self.timeout_s)

    def read(self, prefixes: list[str] | None = None) -> list[SwarmView]:
        """One view per prefix (default: every watched swarm), in prefix order."""
        if prefixes is None:
            prefixes = model_prefixes(self.index(), self.model)
        return [self._swarm(prefix).read_swarm() for prefix in prefixes]

    def _swarm(self, prefix: str) -> SwarmDHT:
        if prefix not in self._swarms:
            self._swarms[prefix] = SwarmDHT(self.dht, prefix, timeout_s=self.timeout_s)
        return self._swarms[prefix]
