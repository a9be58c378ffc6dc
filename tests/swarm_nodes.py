"""Real bootstrap and node processes on 127.0.0.1 for tests, killed by process group at the end
(see ``chainswarm.cli.processes``)."""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chainswarm.cli.processes import LOOPBACK, Proc, spawn, start_bootstrap, stop_all
from chainswarm.dht.swarm import SwarmDHT
from chainswarm.dht.view import SwarmView
from tests.swarm_helpers import shutdown_all

START_TIMEOUT_S = 240.0
"""How long tests wait for node processes to come online: seconds on a quiet machine, minutes on
a loaded 2-core one (each node imports torch and hivemind and measures its speed)."""

_STARTED: list[Proc] = []


@atexit.register
def _stop_leftovers() -> None:
    """Last resort if a test process dies before its fixtures' finalizers run."""
    stop_all([p for p in _STARTED if p.alive()], grace_s=2.0)


@dataclass
class LocalSwarm:
    """A bootstrap peer, node processes, and a client-mode DHT reader in this process."""

    workdir: Path
    initial_peers: list[str]
    reader: SwarmDHT | None = None
    procs: list[Proc] = field(default_factory=list)

    def start_node(self, model: str | Path, *extra: str, name: str | None = None) -> Proc:
        name = name or f"node{len(self.procs)}"
        args = ["node", "--model", str(model), "--initial-peers", *self.initial_peers,
                "--listen", LOOPBACK, "--device", "cpu", "--torch-threads", "1",
                "--update-period", "1", "--cache-dir", str(self.workdir / "cache"), *extra]
        proc = spawn(args, self.workdir / f"{name}.log", env={"OMP_NUM_THREADS": "1"})
        self.procs.append(proc)
        _STARTED.append(proc)
        return proc

    def view(self) -> SwarmView:
        return self.reader.read_swarm()

    def wait_for(self, condition: Callable[[SwarmView], bool], timeout_s: float, what: str) -> SwarmView:
        """Poll the DHT until ``condition(view)``; on timeout fail with the nodes' logs."""
        deadline = time.monotonic() + timeout_s
        view = None
        while time.monotonic() < deadline:
            view = self.view()
            if condition(view):
                return view
            dead = [p for p in self.procs if not p.alive() and p.popen.returncode not in (None, -9)]
            if dead:
                break
            time.sleep(0.5)
        logs = "\n\n".join(f"--- {p.log.name} (alive={p.alive()}):\n{p.tail()}" for p in self.procs)
        nodes = {k: (v.state, v.start, v.end) for k, v in (view.nodes.items() if view else [])}
        raise AssertionError(f"timed out waiting for {what}; nodes: {nodes}\n{logs}")


READER_ATTEMPTS = 3
READER_TIMEOUT_S = 90.0


def _start_reader(maddrs: list[str]):
    """This process's client-mode DHT peer, started again if a start hangs.

    The DHT forks this (threaded) pytest process. Once in a full-suite run the forked peer never
    became ready within 240 s, while the same module alone, and the suite up to it, passed; we
    suspect a lock held by another thread at the fork. A fresh start is the cure, not a longer wait.
    """
    from chainswarm.dht.peer import SwarmConnectionError, start_dht

    for attempt in range(1, READER_ATTEMPTS + 1):
        try:
            return start_dht(maddrs, client_mode=True, nat_traversal=False, start_timeout_s=READER_TIMEOUT_S)
        except SwarmConnectionError:
            if attempt == READER_ATTEMPTS:
                raise


@contextmanager
def local_swarm_processes(workdir: Path, model_id: str) -> Iterator[LocalSwarm]:
    """A bootstrap process and a reader for ``model_id``'s keys; nodes are added by the test."""
    bootstrap, maddrs = start_bootstrap(workdir)
    _STARTED.append(bootstrap)
    swarm = LocalSwarm(workdir, maddrs, procs=[bootstrap])
    dht = None
    try:
        dht = _start_reader(maddrs)
        swarm.reader = SwarmDHT.for_model(dht, model_id)
        yield swarm
    finally:
        stop_all(swarm.procs)
        if dht is not None:
            shutdown_all([dht])
