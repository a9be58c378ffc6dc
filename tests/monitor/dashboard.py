"""Run ``chainswarm health``/``monitor`` as real processes and look at the dashboard in headless
Chromium (Debian's ``chromium`` package); shared by the swarm tests and ``make_screenshot``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from chainswarm.cli.main import COMMAND_MODULES
from tests.monitor.run_cli import MONITOR_COMMANDS
from tests.swarm_nodes import LocalSwarm, Proc

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-component-update", "--disable-sync", "--hide-scrollbars")
WINDOW = (1280, 900)


def cli_command() -> list[str]:
    """``python -m chainswarm.cli`` once it lists the monitor's commands; until then the runner."""
    if set(MONITOR_COMMANDS) <= set(COMMAND_MODULES):
        return [sys.executable, "-m", "chainswarm.cli"]
    return [sys.executable, "-m", "tests.monitor.run_cli"]


def run_cli(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), *args], capture_output=True, text=True, timeout=timeout_s,
                          cwd=REPO_ROOT)


def start_monitor(swarm: LocalSwarm, *extra: str) -> tuple[Proc, str]:
    """A ``chainswarm monitor`` process on a free loopback port, ended with the swarm; its URL."""
    args = ["monitor", "--initial-peers", *swarm.initial_peers, "--port", "0", *extra]
    log = swarm.workdir / "monitor.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as err:
        popen = subprocess.Popen([*cli_command(), *args], stdout=subprocess.PIPE, stderr=err, env=env,
                                 cwd=REPO_ROOT, start_new_session=True)
    proc = Proc(popen, log, args)
    swarm.procs.append(proc)
    url = popen.stdout.readline().decode().strip()
    if not url.startswith("http://"):
        raise RuntimeError(f"monitor did not print its URL:\n{proc.tail()}")
    return proc, url


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def chromium(url: str, *mode: str, window: tuple[int, int] = WINDOW,
             timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url`` with a throwaway profile; ``mode`` is --dump-dom or --screenshot=..."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        width, height = window
        command = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--window-size={width},{height}", *mode, url]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)


def screenshot(url: str, png: Path, window: tuple[int, int] = WINDOW) -> None:
    result = chromium(url, f"--screenshot={png.resolve()}", window=window)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {result.returncode}):\n{result.stderr[-2000:]}")


def dump_dom(url: str) -> str:
    result = chromium(url, "--dump-dom")
    if result.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    return result.stdout
