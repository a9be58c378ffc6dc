"""Real bootstrap and node processes on 127.0.0.1 for tests, killed by process group at the end.

Each process runs ``python -m chainswarm.cli ...`` in a new session, so its DHT child and p2pd
share its process group and die with it, even after a SIGKILL of the main process (which would
otherwise orphan them, reference/hivemind.md §5).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chainswarm.dht.swarm import SwarmDHT, SwarmView
from tests.swarm_helpers import shutdown_all

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


@dataclass
class Proc:
    """One chainswarm process; ``log`` holds its stderr."""

    popen: subprocess.Popen
    log: Path
    args: list[str]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the main process only (SIGKILL simulates a crash)."""
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM:
                try:  # the group may still hold a DHT child or p2pd
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(args: list[str], log: Path, *, env: dict[str, str] | None = None,
          stdout: int | None = subprocess.DEVNULL) -> Proc:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    cmd = [sys.executable, "-m", "chainswarm.cli", *args]
    with open(log, "wb") as err:
        popen = subprocess.Popen(cmd, stdout=stdout, stderr=err, env=full_env, start_new_session=True)
    return Proc(popen, log, args)


def start_bootstrap(workdir: Path) -> tuple[Proc, list[str]]:
    proc = spawn(["bootstrap", "--listen", LOOPBACK], workdir / "bootstrap.log", stdout=subprocess.PIPE)
    line = proc.popen.stdout.readline().decode().strip()
    if not line.startswith("/"):
        proc.stop()
        raise RuntimeError(f"bootstrap did not print its address:\n{proc.tail()}")
    return proc, [line]


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
        proc = spawn(args, self.workdir / f"{name}.log")
        self.procs.append(proc)
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


@contextmanager
def local_swarm_processes(workdir: Path, model_id: str) -> Iterator[LocalSwarm]:
    """A bootstrap process and a reader for ``model_id``'s keys; nodes are added by the test."""
    from chainswarm.dht.peer import start_dht

    bootstrap, maddrs = start_bootstrap(workdir)
    swarm = LocalSwarm(workdir, maddrs, procs=[bootstrap])
    dht = None
    try:
        dht = start_dht(maddrs, client_mode=True, nat_traversal=False)
        swarm.reader = SwarmDHT.for_model(dht, model_id)
        yield swarm
    finally:
        for proc in reversed(swarm.procs):
            proc.stop()
        if dht is not None:
            shutdown_all([dht])
