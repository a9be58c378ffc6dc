"""A bootstrap peer that crashes and restarts (same identity, same port) under running nodes: the
nodes re-dial it, so a client that joins through it afterwards sees them and can generate."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from chainswarm.cli.processes import LOOPBACK, Proc, spawn, stop_all
from chainswarm.dht.swarm import SwarmDHT
from chainswarm.models.spec import load_model_info
from chainswarm.routing.client import connect
from tests.swarm_helpers import shutdown_all
from tests.swarm_nodes import START_TIMEOUT_S, LocalSwarm, _start_reader
from tests.tiny_model import write_tiny_llama

pytestmark = pytest.mark.swarm

NODE_ARGS = ("--memory", "2MiB", "--max-length", "256")
PROMPT = "The quick brown fox"
NEW_TOKENS = 4
REJOIN_TIMEOUT_S = 120.0
"""Generous bound for the nodes to re-dial the restarted bootstrap (the first re-dial retry comes
8 s after the loss, see chainswarm.dht.rejoin); a loaded 2-core machine adds process start-up."""


def start_bootstrap(workdir: Path, listen: str, identity: Path, name: str) -> tuple[Proc, str]:
    proc = spawn(["bootstrap", "--listen", listen, "--identity", str(identity)], workdir / f"{name}.log",
                 stdout=subprocess.PIPE)
    line = proc.popen.stdout.readline().decode().strip()
    if not line.startswith("/"):
        proc.stop()
        raise RuntimeError(f"the bootstrap peer did not start:\n{proc.tail()}")
    return proc, line


@contextmanager
def restartable_swarm(workdir: Path, model_id: str) -> Iterator[LocalSwarm]:
    """Like ``local_swarm_processes``, with a bootstrap key file: its peer id is kept across restarts
    (``swarm.workdir / "bootstrap.key"``). Every process started into ``swarm.procs`` is stopped."""
    identity = workdir / "bootstrap.key"
    bootstrap, maddr = start_bootstrap(workdir, LOOPBACK, identity, "bootstrap0")
    swarm = LocalSwarm(workdir, [maddr], procs=[bootstrap])
    dhts = []
    try:
        dhts.append(_start_reader([maddr]))  # retried: a fork of this threaded process may hang
        swarm.reader = SwarmDHT.for_model(dhts[0], model_id)
        yield swarm
    finally:
        stop_all(swarm.procs)
        shutdown_all(dhts)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", num_layers=4)


def both_online(view) -> bool:
    return len(view.online_nodes()) == 2 and not view.uncovered()


def test_nodes_rejoin_a_restarted_bootstrap_and_a_new_client_generates(tiny_model: Path, tmp_path: Path) -> None:
    info = load_model_info(tiny_model)
    with restartable_swarm(tmp_path, info.model_id) as swarm:
        for a in (0, 2):
            swarm.start_node(tiny_model, "--blocks", f"{a}:{a + 2}", *NODE_ARGS, name=f"node{a}")
        before = swarm.wait_for(both_online, START_TIMEOUT_S, "2 nodes online")
        crashed = swarm.procs[0]
        os.killpg(crashed.pid, signal.SIGKILL)  # the whole group: main process, DHT child, p2pd
        crashed.popen.wait()

        maddr = swarm.initial_peers[0]
        listen = maddr.split("/p2p/")[0]
        restarted, again = start_bootstrap(tmp_path, listen, tmp_path / "bootstrap.key", "bootstrap1")
        swarm.procs.append(restarted)
        assert again == maddr
        fresh = _start_reader([maddr])
        try:
            swarm.reader = SwarmDHT.for_model(fresh, info.model_id)
            after = swarm.wait_for(both_online, REJOIN_TIMEOUT_S, "both nodes seen through the restarted bootstrap")
        finally:
            shutdown_all([fresh])
        assert set(after.nodes) == set(before.nodes)

        with connect(tiny_model, [maddr], refresh_period_s=1.0) as model:
            completion = model.generate(PROMPT, max_new_tokens=NEW_TOKENS, temperature=0)
            ids = torch.tensor([model.client.generator.encode(PROMPT)])
        hf = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
        expected = hf.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)[0, ids.shape[1]:].tolist()
        assert completion.token_ids == expected
        logs = "".join(p.log.read_text() for p in swarm.procs[1:3])
        # at least one node re-dialed; the other may meet the bootstrap again in its next DHT search
        assert "rejoined the swarm" in logs
