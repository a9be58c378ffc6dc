"""``python -m tests.monitor.make_screenshot docs/dashboard.png``: the README's dashboard picture.

Starts a loopback swarm of the tiny model (four nodes with names, one block covered once), a
client's announced demand at 40% of the swarm's service rate, and a monitor; then a fifth node
joins and one leaves, so the events list has entries; then headless Chromium takes the picture.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path

from chainswarm.dht.records import LoadRecord, NodeState
from chainswarm.models.spec import load_model_info
from chainswarm.monitor.collect import collect
from tests.monitor.dashboard import get_json, screenshot, start_monitor
from tests.swarm_nodes import LocalSwarm, local_swarm_processes
from tests.tiny_model import write_tiny_llama

NUM_BLOCKS = 12
NODES = {"alpha": (0, 6), "beta": (6, 12), "gamma": (0, 9), "delta": (10, 12)}
LATE = ("epsilon", (3, 7))
LEAVING = "gamma"
UTILIZATION = 0.4
WINDOW = (1280, 1180)


def start(swarm: LocalSwarm, model: Path, name: str, span: tuple[int, int]) -> None:
    swarm.start_node(model, "--blocks", f"{span[0]}:{span[1]}", "--memory", "4MiB", "--max-length", "256",
                     "--public-name", name, name=name)


def online(count: int):
    return lambda view: len(view.online_nodes()) >= count


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="dashboard-") as tmp:
        model = write_tiny_llama(Path(tmp) / "tiny-llama", num_layers=NUM_BLOCKS)
        with local_swarm_processes(Path(tmp), load_model_info(model).model_id) as swarm:
            for name, span in NODES.items():
                start(swarm, model, name, span)
            view = swarm.wait_for(online(len(NODES)), 180, "the first nodes online")
            rate = UTILIZATION * collect(view).service_rate
            swarm.reader.publish_load(LoadRecord(client_id="demo-client", arrival_rate=rate, window_s=60.0,
                                                 updated_at=time.time()), expiration_s=3600)
            _, url = start_monitor(swarm, "--refresh", "1")
            start(swarm, model, *LATE)
            swarm.wait_for(online(len(NODES) + 1), 180, f"{LATE[0]} online")
            leaving = next(p for p in swarm.procs if p.log.name == f"{LEAVING}.log")
            leaving.kill(signal.SIGTERM)  # the node alone, so that it drains and announces offline
            swarm.wait_for(lambda v: all(n.public_name != LEAVING or n.state is NodeState.OFFLINE
                                         for n in v.nodes.values()), 60, f"{LEAVING} offline")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(e["kind"] == "left" for e in get_json(url + "api/v1/state")["events"]):
                time.sleep(0.5)
            screenshot(url, out, window=WINDOW)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.png"))
