"""Nodes place themselves: no --blocks, coverage from the decentralized rules; a dead node's gap is filled."""

from __future__ import annotations

import signal

import pytest

from chainswarm.models.spec import load_model_info
from tests.node.conftest import NUM_BLOCKS
from tests.swarm_nodes import START_TIMEOUT_S, local_swarm_processes

pytestmark = pytest.mark.swarm

# About two of the tiny model's blocks (148 kB each) plus their cache at max length 256 (66 kB):
# three nodes are needed to cover its six blocks.
MEMORY = "500kB"


def spans(view) -> list[tuple[int, int]]:
    return sorted((n.start, n.end) for n in view.online_nodes())


def test_nodes_cover_the_model_and_fill_a_dead_nodes_gap(tiny_model, tmp_path):
    info = load_model_info(tiny_model)
    with local_swarm_processes(tmp_path, info.model_id) as swarm:
        procs = []
        for k in range(3):  # one at a time, as volunteers arrive; each sees the ones before it
            procs.append(swarm.start_node(tiny_model, "--memory", MEMORY, "--max-length", "256"))
            swarm.wait_for(lambda v, k=k: len(v.online_nodes()) == k + 1, START_TIMEOUT_S, f"node {k} online")
        view = swarm.wait_for(lambda v: not v.uncovered(), 30, "all blocks covered")
        assert not view.rejected
        assert sum(e - s for s, e in spans(view)) == NUM_BLOCKS  # no overlap needed at this memory
        for node in view.online_nodes():
            assert node.c_reserved >= 1 and node.cache_slots_total >= node.end - node.start

        victim = procs[1]
        lost = next(n for n in view.online_nodes() if n.peer_id in _peer_ids(swarm, victim, view))
        victim.kill(signal.SIGKILL)
        view = swarm.wait_for(lambda v: lost.peer_id not in v.nodes, 15, "the dead node's record to expire")
        assert set(view.uncovered()) == set(range(lost.start, lost.end))

        swarm.start_node(tiny_model, "--memory", MEMORY, "--max-length", "256")
        view = swarm.wait_for(lambda v: not v.uncovered() and len(v.online_nodes()) == 3, START_TIMEOUT_S,
                              "a new node to fill the gap")
        assert (lost.start, lost.end) in spans(view)


def _peer_ids(swarm, proc, view) -> set[str]:
    """Peer ids a node process logged as its own (its 'online: ... as <peer id>' line)."""
    text = proc.log.read_text()
    return {peer for peer in view.nodes if peer in text}
