"""Real hivemind DHT peers on 127.0.0.1 for tests, always shut down (like hivemind's dht_swarms.py).

Import as ``from tests.swarm_helpers import local_swarm`` (pytest run from the repository root
with ``python -m pytest``, which puts the root on sys.path).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hivemind import DHT

from chainswarm.dht.peer import start_dht, visible_maddrs

SHUTDOWN_GRACE_S = 5.0
"""How long a DHT process gets to exit after shutdown() and then after SIGTERM, before SIGKILL."""


@contextmanager
def local_swarm(num_peers: int, *, num_clients: int = 0) -> Iterator[list[DHT]]:
    """A bootstrap peer, ``num_peers - 1`` peers joined through it, then ``num_clients``
    client-mode peers, in that order; all of them end when the block exits, also on failure."""
    if num_peers < 1:
        raise ValueError("a swarm needs at least the bootstrap peer")
    dhts: list[DHT] = []
    try:
        dhts.append(start_dht(nat_traversal=False))
        maddrs = visible_maddrs(dhts[0])
        for index in range(1, num_peers + num_clients):
            dhts.append(start_dht(maddrs, client_mode=index >= num_peers, nat_traversal=False))
        yield dhts
    finally:
        shutdown_all(dhts)


def shutdown_all(dhts: list[DHT]) -> None:
    """Stop the DHTs in reverse order (clients first, bootstrap last), escalating to SIGKILL."""
    for dht in reversed(dhts):
        try:
            dht.shutdown()
        except (OSError, ValueError):
            pass  # the pipe is already closed: the process is gone or going; the checks below decide
        for stop in (dht.terminate, dht.kill):
            if not dht.is_alive():
                break
            stop()
            dht.join(SHUTDOWN_GRACE_S)
        dht.join(SHUTDOWN_GRACE_S)
