"""``health`` and ``monitor`` against a real loopback swarm: a bootstrap peer and two node processes
of the tiny model on blocks [0, 3) and [3, 6), then one of them killed.

The tests share one swarm and run in file order; the last one kills a node.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chainswarm.models.spec import load_model_info
from tests.monitor.dashboard import (
    CHROMIUM,
    WINDOW,
    dump_dom,
    get_json,
    get_text,
    run_cli,
    screenshot,
    start_monitor,
)
from tests.monitor.png import read_png
from tests.swarm_nodes import START_TIMEOUT_S, LocalSwarm, local_swarm_processes
from tests.tiny_model import write_tiny_llama

pytestmark = pytest.mark.swarm

NUM_BLOCKS = 6
SPANS = {"alpha": (0, 3), "beta": (3, 6)}
ONLINE_RGB = (0x2E, 0x9D, 0x5B)  # the dashboard's color of an online node's bar
EXPIRY_WAIT_S = 30  # records expire 2.5 s after the last announce; generous for a loaded host


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    model = write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", num_layers=NUM_BLOCKS)
    info = load_model_info(model)
    with local_swarm_processes(tmp_path_factory.mktemp("swarm"), info.model_id) as swarm:
        for name, (start, end) in SPANS.items():
            swarm.start_node(model, "--blocks", f"{start}:{end}", "--memory", "4MiB", "--max-length", "256",
                             "--public-name", name, name=name)
        swarm.wait_for(lambda v: len(v.online_nodes()) == len(SPANS), START_TIMEOUT_S, "both nodes online")
        yield swarm


@pytest.fixture(scope="module")
def monitor_url(swarm: LocalSwarm) -> str:
    return start_monitor(swarm, "--refresh", "1")[1]


def peers_by_name(swarm: LocalSwarm) -> dict[str, str]:
    return {n.public_name: n.peer_id for n in swarm.view().nodes.values()}


def test_health_json_lists_every_node_and_block(swarm: LocalSwarm) -> None:
    result = run_cli("health", "--initial-peers", *swarm.initial_peers, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["num_blocks"] == NUM_BLOCKS and data["uncovered"] == [] and data["healthy"] is True
    peers = peers_by_name(swarm)
    assert sorted((n["peer_id"], n["state"], n["start"], n["end"]) for n in data["nodes"]) == sorted(
        (peers[name], "online", start, end) for name, (start, end) in SPANS.items())
    assert data["covered_once"] == list(range(NUM_BLOCKS)) and len(data["chains"]) >= 1


def test_health_text_report(swarm: LocalSwarm) -> None:
    result = run_cli("health", "--initial-peers", *swarm.initial_peers)
    assert result.returncode == 0, result.stderr
    assert "status: HEALTHY" in result.stdout
    assert "alpha" in result.stdout and "beta" in result.stdout


def test_missing_or_unreachable_peers_exit_2(swarm: LocalSwarm) -> None:
    missing = run_cli("health")
    assert missing.returncode == 2 and "--initial-peers is required" in missing.stderr
    peer_id = swarm.initial_peers[0].rsplit("/p2p/", 1)[1]
    dead_peer = f"/ip4/127.0.0.1/tcp/9/p2p/{peer_id}"  # the bootstrap's id on a port nothing listens on
    unreachable = run_cli("health", "--initial-peers", dead_peer)
    assert unreachable.returncode == 2 and "could not join the swarm" in unreachable.stderr


def test_monitor_state_and_metrics(swarm: LocalSwarm, monitor_url: str) -> None:
    state = get_json(monitor_url + "api/v1/state")
    (model,) = state["models"]
    peers = peers_by_name(swarm)
    assert model["healthy"] and model["num_blocks"] == NUM_BLOCKS
    assert {(n["peer_id"], n["start"], n["end"]) for n in model["nodes"]} == {
        (peers[name], start, end) for name, (start, end) in SPANS.items()}
    families = {f.name: f for f in text_string_to_metric_families(get_text(monitor_url + "metrics"))}
    healthy = families["chainswarm_model_healthy"].samples
    assert [(s.labels["model"], s.value) for s in healthy] == [(model["model"], 1.0)]
    online = [s for s in families["chainswarm_nodes"].samples if s.labels["state"] == "online"]
    assert [s.value for s in online] == [2.0]
    assert families["chainswarm_service_rate_jobs_per_second"].samples[0].value > 0


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)")
def test_dashboard_renders_the_block_map(swarm: LocalSwarm, monitor_url: str, tmp_path: Path) -> None:
    dom = dump_dom(monitor_url)
    for name, peer_id in peers_by_name(swarm).items():
        assert f'<g class="node" data-peer-id="{peer_id}" data-state="online">' in dom, name
        assert f'<tr data-peer-id="{peer_id}">' in dom, name
    assert sorted(map(int, re.findall(r'<rect class="cover" data-block="(\d+)" data-count="1"', dom))) == list(
        range(NUM_BLOCKS))
    png = tmp_path / "dashboard.png"
    screenshot(monitor_url, png)
    pixels = read_png(png)[..., :3]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    online = np.all(pixels == ONLINE_RGB, axis=-1).sum()
    assert online > 2000, f"only {online} pixels of the online color: the block map is not drawn"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


def test_killed_node_turns_its_blocks_uncovered(swarm: LocalSwarm, monitor_url: str) -> None:
    beta = next(p for p in swarm.procs if p.log.name == "beta.log")
    beta_peer = peers_by_name(swarm)["beta"]
    beta.kill()
    swarm.wait_for(lambda v: beta_peer not in v.nodes, EXPIRY_WAIT_S, "beta's record to expire")
    result = run_cli("health", "--initial-peers", *swarm.initial_peers, "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["uncovered"] == [3, 4, 5] and data["healthy"] is False
    assert [n["start"] for n in data["nodes"]] == [0]
    state = wait_for_monitor(monitor_url, lambda s: s["models"][0]["uncovered"] == [3, 4, 5])
    assert ("expired", beta_peer) in [(e["kind"], e["peer_id"]) for e in state["events"]]


def wait_for_monitor(url: str, condition, timeout_s: float = EXPIRY_WAIT_S) -> dict:
    """Poll the monitor's state until ``condition(state)`` or the timeout; the last state read."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = get_json(url + "api/v1/state")
        if condition(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.5)
