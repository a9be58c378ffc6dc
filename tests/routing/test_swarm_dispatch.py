"""JFFC over a live swarm of two single-node chains: concurrency, FIFO queueing, "busy"."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainswarm.models.spec import block_bytes, cache_bytes, load_model_info
from chainswarm.routing.client import RemoteModel, connect
from chainswarm.routing.dispatch import chain_key
from chainswarm.routing.hop import Hop, HopStream, NodeBusy
from chainswarm.routing.sampling import SamplingParams
from tests.swarm_nodes import START_TIMEOUT_S, LocalSwarm, local_swarm_processes
from tests.tiny_model import write_tiny_llama

pytestmark = pytest.mark.swarm

NUM_BLOCKS, MAX_LENGTH, CAPACITY = 6, 128, 3
PROMPTS = [f"Hello world {i}, how are" for i in range(20)]
PARAMS = SamplingParams(max_new_tokens=6, temperature=0)


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSwarm, Path]]:
    """Two nodes, each hosting the whole tiny model with cache for exactly CAPACITY sessions."""
    path = write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", num_layers=NUM_BLOCKS)
    info = load_model_info(path)
    memory = NUM_BLOCKS * (block_bytes(info, "float32") + CAPACITY * cache_bytes(info, "float32", MAX_LENGTH))
    with local_swarm_processes(tmp_path_factory.mktemp("swarm"), info.model_id) as swarm:
        for name in ("a", "b"):
            swarm.start_node(path, "--blocks", f"0:{NUM_BLOCKS}", "--memory", str(memory),
                             "--max-length", str(MAX_LENGTH), name=name)
        swarm.wait_for(lambda v: len(v.online_nodes()) == 2, START_TIMEOUT_S, "2 nodes online")
        yield swarm, path


@pytest.fixture(scope="module")
def model(swarm: tuple[LocalSwarm, Path]) -> Iterator[RemoteModel]:
    local, path = swarm
    with connect(path, local.initial_peers, load_period_s=0.5) as model:
        yield model


def test_two_chains_with_the_announced_capacity(model: RemoteModel) -> None:
    chains = model.client.router.chains
    assert len(chains) == 2
    assert [c.capacity for c in chains] == [CAPACITY, CAPACITY]
    assert chains[0].rate >= chains[1].rate


def test_twenty_concurrent_requests_all_complete_fastest_chain_first(model: RemoteModel) -> None:
    client = model.client
    expected = [model.generate(p, max_new_tokens=PARAMS.max_new_tokens, temperature=0).text for p in PROMPTS]
    fast, slow = (chain_key(c) for c in client.router.chains)

    async def run_all() -> tuple[list, list[str]]:
        dispatcher = client.router.dispatcher
        violations: list[str] = []

        async def watch() -> None:  # JFFC is work-conserving: nobody waits while a slot is free
            while True:
                running = dispatcher.running
                if dispatcher.queue_length and any(z < CAPACITY for z in running.values()):
                    violations.append(f"queue {dispatcher.queue_length} with running {running}")
                if any(z > CAPACITY for z in running.values()):
                    violations.append(f"over capacity: {running}")
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        tasks = [asyncio.create_task(client.generate(p, PARAMS)) for p in PROMPTS]
        results = await asyncio.gather(*tasks)
        watcher.cancel()
        return results, violations

    results, violations = model.submit(run_all()).result()
    assert [r.text for r in results] == expected  # every request completed, with its own answer
    routes = [tuple(h.peer_id for h in r.route) for r in results]
    assert routes[:CAPACITY] == [fast[0]] * CAPACITY  # the first arrivals fill the faster chain
    assert routes[CAPACITY : 2 * CAPACITY] == [slow[0]] * CAPACITY  # then the other one
    assert violations == []
    assert client.router.dispatcher.queue_length == 0
    assert set(client.router.dispatcher.running.values()) == {0}


def test_busy_node_sends_the_request_to_the_other_chain(model: RemoteModel) -> None:
    """Another client fills the faster node; our request gets "busy" there and moves on."""
    client = model.client
    fast, slow = (chain_key(c) for c in client.router.chains)

    async def fill_then_generate():
        held = []
        try:
            while True:  # what other clients' sessions would do to the node
                stream = HopStream(client.router.p2p, Hop(fast[0][0], 0, NUM_BLOCKS), uuid.uuid4().hex, 10)
                try:
                    await stream.open(MAX_LENGTH)
                except NodeBusy:
                    break
                held.append(stream)
            completion = await client.generate(PROMPTS[0], PARAMS)
            return len(held), completion
        finally:
            await asyncio.gather(*(s.close() for s in held))

    held, completion = model.submit(fill_then_generate()).result()
    assert held == CAPACITY
    assert [h.peer_id for h in completion.route] == [slow[0][0]]
    # the faster chain counts as full until a completion there or a refresh
    assert not client.router.dispatcher.is_free(client.router.chains[0])


def test_client_publishes_its_arrival_rate(model: RemoteModel, swarm: tuple[LocalSwarm, Path]) -> None:
    client_id = model.client.router.client_id
    view = swarm[0].wait_for(lambda v: v.loads.get(client_id) is not None and v.loads[client_id].arrival_rate > 0,
                                30, "the client's load record")
    assert view.loads[client_id].window_s == model.client.router.config.load_window_s
