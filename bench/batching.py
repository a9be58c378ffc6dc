"""Node throughput under load, with decode batching on and off in the same run (prints a table).

Three node processes on 127.0.0.1 host a third of SmolLM2-135M each (blocks 0:10, 10:20, 20:30,
fp32, CPU); one client sends Poisson arrivals of requests of 64 prompt + 16 new tokens at each
rate, and the table gives mean/p95 response, mean waiting and throughput. The same swarm is
started twice: nodes batching concurrent sessions' decode steps, and nodes running each step
alone (``--no-batching``, what Petals does).

    python bench/batching.py [--rates 0.25,0.5,1,2,4] [--requests 20] [--model smollm2|tiny]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from swarm_client import _with_client, model_path, poisson_records, thirds, throughput

from chainswarm.models.spec import load_model_info
from chainswarm.routing.router import RoutingConfig
from tests.swarm_nodes import local_swarm_processes


async def sweep(client, args) -> list[tuple[float, list]]:
    out = []
    for k, rate in enumerate(args.rates):
        records = await poisson_records(client, rate, args.requests, args.prompt_tokens, args.new_tokens,
                                        args.seed + k)
        out.append((rate, records))
    return out


def row(mode: str, rate: float, records) -> str:
    response = sorted(e - a for a, _, e in records)
    waiting = [s - a for a, s, _ in records]
    p95 = response[min(len(response) - 1, int(0.95 * len(response)))]
    return (f"| {mode:9} | {rate:5g} | {statistics.mean(response):7.2f} | {p95:7.2f} | "
            f"{statistics.mean(waiting):7.2f} | {throughput(records):6.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--layers", type=int, default=12, help="blocks of the tiny model")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[0.25, 0.5, 1, 2, 4])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--memory", default="1GiB", help="memory per node (enough slots for every request)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="chainswarm-batching-") as tmp:
        path = model_path(args.model, Path(tmp), args.layers)
        info = load_model_info(path)
        for mode in ("batched", "unbatched"):
            run_dir = Path(tmp) / mode
            run_dir.mkdir()
            with local_swarm_processes(run_dir, info.model_id) as swarm:
                for a, b in thirds(info.num_blocks):
                    extra = ["--no-batching"] if mode == "unbatched" else []
                    swarm.start_node(path, "--blocks", f"{a}:{b}", "--memory", args.memory,
                                     "--max-length", str(args.max_length), *extra)
                swarm.wait_for(lambda v: len(v.online_nodes()) == 3 and not v.uncovered(), 300, "nodes online")
                results = asyncio.run(_with_client(swarm, path, replace(RoutingConfig()), sweep, args))
                rows += [row(mode, rate, records) for rate, records in results]
                print(*rows[-len(results):], sep="\n", flush=True)
    print(f"\n{info.model_id}: 3 nodes x {info.num_blocks // 3} blocks, {args.requests} requests of "
          f"{args.prompt_tokens}+{args.new_tokens} tokens per rate (seconds; throughput in req/s)")
    print("| mode      | rate  | mean    | p95     | wait    | thru   |")
    print("|-----------|-------|---------|---------|---------|--------|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
