"""A real loopback swarm shared by this folder's swarm tests; each test uses its own key prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hivemind import DHT

from tests.swarm_helpers import local_swarm


@pytest.fixture(scope="module")
def swarm() -> Iterator[list[DHT]]:
    """[bootstrap, peer A, peer B, client-mode reader]."""
    with local_swarm(3, num_clients=1) as dhts:
        yield dhts


@pytest.fixture
def prefix() -> str:
    """A fresh swarm prefix, so that tests sharing the DHT never see each other's records."""
    return f"chainswarm.test-{uuid.uuid4().hex[:12]}"
