"""Start ``chainswarm`` subcommands as child processes that can always be stopped.

Each child runs in a new session, so its DHT process and p2pd share its process group and die
with it, even after a SIGKILL of the main process (which would otherwise orphan them,
reference/hivemind.md §5). Used by ``chainswarm demo`` and by the tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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
        """SIGTERM the main process (a node drains and leaves), then SIGKILL whatever is left of its group.

        The signal goes to the main process alone: sent to the group, it would also kill the
        process's own DHT peer, and a leaving node would wait out a DHT timeout announcing itself
        offline through a dead peer.
        """
        self.terminate()
        try:
            self.popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
        try:  # the group may still hold a DHT child or p2pd
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()

    def terminate(self) -> None:
        """SIGTERM the main process without waiting (see ``stop_all``)."""
        self.kill(signal.SIGTERM)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(args: list[str], log: Path, *, env: dict[str, str] | None = None,
          stdout: int | None = subprocess.DEVNULL) -> Proc:
    """``python -m chainswarm.cli ARGS`` with stderr to ``log``."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    cmd = [sys.executable, "-m", "chainswarm.cli", *args]
    with open(log, "wb") as err:
        popen = subprocess.Popen(cmd, stdout=stdout, stderr=err, env=full_env, start_new_session=True)
    return Proc(popen, log, args)


def start_bootstrap(workdir: Path, listen: str = LOOPBACK) -> tuple[Proc, list[str]]:
    """A bootstrap peer and the multiaddr it printed."""
    proc = spawn(["bootstrap", "--listen", listen], workdir / "bootstrap.log", stdout=subprocess.PIPE)
    line = proc.popen.stdout.readline().decode().strip()
    if not line.startswith("/"):
        proc.stop()
        raise RuntimeError(f"the bootstrap peer did not start:\n{proc.tail()}")
    return proc, [line]


def stop_all(procs: list[Proc], grace_s: float = 10.0) -> None:
    """Stop several processes at once: the nodes and clients first, then the bootstrap peers they
    leave through. Each group gets SIGTERM together, then ``stop`` each (which waits, then kills)."""
    bootstraps = [p for p in procs if p.args[:1] == ["bootstrap"]]
    for group in ([p for p in procs if p not in bootstraps], bootstraps):
        for proc in group:
            proc.terminate()
        for proc in group:
            proc.stop(grace_s)
