"""Greedy decode through a running swarm with chainswarm's own client (prints figures; not a test).

The client is ``SwarmClient`` as ``chainswarm.connect(..., device=, dtype=)`` builds it, with the
model's front (embeddings, final norm, LM head) on ``--device`` in ``--dtype``: on the CPU in
float32, a 7B LM head alone would cost milliseconds per token. Figures:

- per-token time of one stream (``Generator.stream``: embed, 3 hops, LM head, greedy pick and
  detokenization), from the time between consecutive streamed pieces (one piece per token);
- the same through ``SwarmClient.generate`` as a user calls it: (t(N+1 tokens) - t(1)) / N;
- one chain step alone (hidden states through the 3 hops, no front) and an ``rpc_info`` round
  trip per hop, to split the time between compute and transport;
- decode tokens/s with B concurrent streams, each on its own session (the nodes batch them).

Run by ``bench/gpu_swarm.py`` in its own process: the DHT forks, so it starts before CUDA does.

    python bench/gpu/swarm_decode.py --model DIR --initial-peers MADDR --json FILE [--device cuda]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import torch
from hivemind import DHT
from random_llama import prompt_ids

from chainswarm.dht.peer import start_dht
from chainswarm.dht.swarm import SwarmDHT
from chainswarm.models.spec import load_model_info
from chainswarm.routing.chains import chain_hops
from chainswarm.routing.client import ClientConfig, SwarmClient
from chainswarm.routing.sampling import SamplingParams
from chainswarm.routing.view import ping

WARMUP_TOKENS = 8
PINGS_PER_HOP = 20


def percentiles_ms(values_s: list[float]) -> dict[str, float]:
    ms = sorted(v * 1e3 for v in values_s)
    return {"p50": statistics.median(ms), "p90": ms[int(0.9 * (len(ms) - 1))], "mean": statistics.fmean(ms)}


def wait_for_swarm(dht: DHT, model_id: str, nodes: int, timeout_s: float) -> None:
    """Poll the DHT until ``nodes`` nodes are online and every block is hosted."""
    reader = SwarmDHT.for_model(dht, model_id)
    deadline = time.monotonic() + timeout_s
    while True:
        view = reader.read_swarm()
        online = view.online_nodes()
        if len(online) >= nodes and not view.uncovered():
            print(f"swarm ready: {[(n.start, n.end, n.cache_slots_total) for n in online]}", flush=True)
            return
        if time.monotonic() > deadline:
            states = {k[-8:]: (v.state.value, v.start, v.end) for k, v in view.nodes.items()}
            raise SystemExit(f"the swarm did not cover the model within {timeout_s:g} s; nodes: {states}")
        time.sleep(1.0)


async def open_client(dht: DHT, args: argparse.Namespace) -> SwarmClient:
    """``SwarmClient.create`` with the front on ``args.device``; waits until the router has a chain."""
    config = ClientConfig(args.model, tuple(args.initial_peers), device=args.device, dtype=args.dtype)
    client = await SwarmClient.create(config, dht)
    while not client.router.chains:
        await asyncio.sleep(0.5)
        await client.router.refresh()
    return client


async def timed_stream(client: SwarmClient, ids: list[int], new_tokens: int) -> tuple[list[float], list[int]]:
    """perf_counter stamps of the streamed pieces (one per token) and the generated ids."""
    stamps, tokens = [], []
    params = SamplingParams(max_new_tokens=new_tokens, temperature=0)
    async for delta in client.generator.stream(ids, params):
        if delta.text:
            stamps.append(time.perf_counter())
        if delta.completion is not None:
            tokens = delta.completion.token_ids
    return stamps, tokens


async def chain_step_s(client: SwarmClient, prompt: list[int], steps: int) -> list[float]:
    """Seconds per decode step of hidden states through the chain alone (no front, no sampling)."""
    front = client.generator.front
    out = []
    async with client.router.session(len(prompt) + steps) as session:
        await session.step(front.embed(torch.tensor([prompt])))
        token = front.embed(torch.tensor([prompt[-1:]]))
        for _ in range(steps):
            began = time.perf_counter()
            await session.step(token)
            out.append(time.perf_counter() - began)
    return out


async def rpc_rtt_s(client: SwarmClient) -> list[float]:
    router = client.router
    return [await ping(router.p2p, hop.peer_id) for chain in router.chains for hop in chain_hops(chain)
            for _ in range(PINGS_PER_HOP)]


async def concurrent_streams(client: SwarmClient, prompts: torch.Tensor, new_tokens: int) -> dict[str, float]:
    """Decode tokens/s of ``len(prompts)`` streams at once: tokens after each stream's first, over
    the time from the first stream's first token to the last stream's last."""
    runs = await asyncio.gather(*(timed_stream(client, row.tolist(), new_tokens) for row in prompts))
    stamps = [s for s, _ in runs if s]
    window_s = max(s[-1] for s in stamps) - min(s[0] for s in stamps)
    intervals = [b - a for s in stamps for a, b in zip(s, s[1:], strict=False)]
    decoded = sum(len(s) - 1 for s in stamps)
    return {"tokens_per_s": decoded / window_s, "ms_per_token_p50": percentiles_ms(intervals)["p50"],
            "streams_done": len(stamps)}


async def measure(client: SwarmClient, args: argparse.Namespace) -> dict:
    vocab = client.generator.front.info.config.vocab_size
    prompts = prompt_ids(vocab, max(args.batches), args.prompt_tokens)
    first = prompts[0].tolist()
    capacity = sum(c.capacity for c in client.router.chains)
    device = client.generator.front.device
    result: dict = {"client_device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "chains": [{"hops": [str(h) for h in chain_hops(c)], "capacity": c.capacity}
                               for c in client.router.chains], "batches": {}}
    await timed_stream(client, first, WARMUP_TOKENS)
    stamps, tokens = await timed_stream(client, first, args.tokens + 1)
    intervals = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    result["stream_ms_per_token"] = percentiles_ms(intervals)
    result["greedy_tokens"] = tokens
    print(f"swarm stream: {result['stream_ms_per_token']}", flush=True)

    text = client.generator.tokenizer.decode(first)
    params = {"temperature": 0}
    began = time.perf_counter()
    await client.generate(text, SamplingParams(max_new_tokens=1, **params))
    one_s = time.perf_counter() - began
    began = time.perf_counter()
    await client.generate(text, SamplingParams(max_new_tokens=args.tokens + 1, **params))
    result["generate_ms_per_token"] = (time.perf_counter() - began - one_s) / args.tokens * 1e3
    result["chain_step_ms"] = percentiles_ms(await chain_step_s(client, first, args.tokens))
    result["rpc_rtt_ms"] = percentiles_ms(await rpc_rtt_s(client))
    print(f"swarm chain step: {result['chain_step_ms']}, rpc_info round trip: {result['rpc_rtt_ms']}", flush=True)

    for batch in args.batches:
        if batch > capacity:
            result["batches"][str(batch)] = {"skipped": f"chains hold {capacity} sessions at once"}
            continue
        if batch == 1:
            figures = {"tokens_per_s": 1e3 / result["stream_ms_per_token"]["mean"],
                       "ms_per_token_p50": result["stream_ms_per_token"]["p50"], "streams_done": 1}
        else:
            figures = await concurrent_streams(client, prompts[:batch], args.tokens + 1)
        result["batches"][str(batch)] = figures
        print(f"swarm batch {batch}: {figures}", flush=True)
    return result


async def run(dht: DHT, args: argparse.Namespace) -> dict:
    client = await open_client(dht, args)
    try:
        return await measure(client, args)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--initial-peers", nargs="+", required=True)
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--device", default="cuda", help="where the client's front runs")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--nodes", type=int, default=3, help="online nodes to wait for")
    parser.add_argument("--wait-s", type=float, default=300.0, help="how long to wait for the swarm")
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64, help="decode steps timed per stream")
    args = parser.parse_args()
    info = load_model_info(args.model)
    dht = start_dht(args.initial_peers, client_mode=True, nat_traversal=False)  # forks: before CUDA
    try:
        wait_for_swarm(dht, info.model_id, args.nodes, args.wait_s)
    except BaseException:
        dht.shutdown()
        raise
    result = asyncio.run(run(dht, args))  # the client's close shuts the DHT down
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
