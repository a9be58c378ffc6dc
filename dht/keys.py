"""DHT key names of one model's swarm, derived from its model id.

All keys are dictionary values in hivemind (a subkey per writer), so peers never overwrite each
other: nodes and specs under the writer's peer id, loads under the client id, lease claims under
the claimant's peer id, and the model index under each swarm's prefix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

NAMESPACE = "chainswarm"
"""Leads every key, so that chainswarm shares a DHT with other hivemind apps without collisions."""

MODEL_INDEX_KEY = f"{NAMESPACE}.models"
"""Subkey: a swarm's prefix; value: that swarm's ``SwarmSpec``. Lists the models being served."""

MAX_NAME_CHARS = 96
"""Longer model ids are cut and suffixed with a hash, keeping keys short but distinct."""


def model_prefix(model_id: str) -> str:
    """``chainswarm.<model id with [^A-Za-z0-9_-] runs replaced by '-'>``.

    Different ids can map to one prefix ('a/b' and 'a.b'); the spec carries the exact model id,
    so a node that lands in the wrong swarm is refused by ``SwarmSpec.mismatch``.
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", model_id).strip("-")
    if not name:
        raise ValueError(f"model id {model_id!r} has no letters or digits to name a swarm by")
    if len(name) > MAX_NAME_CHARS:
        digest = hashlib.sha256(model_id.encode()).hexdigest()[:12]
        name = f"{name[: MAX_NAME_CHARS - 13]}-{digest}"
    return f"{NAMESPACE}.{name}"


@dataclass(frozen=True)
class SwarmKeys:
    """The keys of one swarm, from its prefix (see :func:`model_prefix`)."""

    prefix: str

    @classmethod
    def for_model(cls, model_id: str) -> SwarmKeys:
        return cls(model_prefix(model_id))

    @property
    def nodes(self) -> str:
        """Subkey: peer id; value: ``NodeRecord``."""
        return f"{self.prefix}.nodes"

    @property
    def spec(self) -> str:
        """Subkey: announcing peer id; value: ``SwarmSpec``."""
        return f"{self.prefix}.spec"

    @property
    def load(self) -> str:
        """Subkey: client id; value: ``LoadRecord``."""
        return f"{self.prefix}.load"

    @property
    def moving(self) -> str:
        """Subkey: claimant peer id; value: ``MovingLease``."""
        return f"{self.prefix}.moving"
