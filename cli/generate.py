"""``chainswarm generate``: answer one prompt through the swarm, streaming the text to stdout.

Only the generated text goes to stdout (pipe it anywhere); logs and the closing summary go to
stderr. Also defines the client options that ``chainswarm serve`` shares.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainswarm.routing.client import ClientConfig
    from chainswarm.routing.sampling import SamplingParams


def add_client_args(p: argparse.ArgumentParser) -> None:
    """Options every swarm client takes: the model files and the way into the swarm."""
    p.add_argument("--model", required=True,
                   help="the model's files, as the nodes serve them: a Hugging Face directory or a "
                   ".gguf file (the client runs the embeddings and LM head from them)")
    p.add_argument("--initial-peers", nargs="+", required=True, metavar="MADDR",
                   help="multiaddrs printed by `chainswarm bootstrap` (or any node)")
    p.add_argument("--model-id", help="the swarm's model id, if the nodes were started with one")
    p.add_argument("--step-timeout", type=float, default=30.0, metavar="S",
                   help="seconds a node may take for one step before it counts as failed (default 30)")
    p.add_argument("--queue-timeout", type=float, default=300.0, metavar="S",
                   help="seconds a request may wait for a free chain before failing (default 300)")
    p.add_argument("--device", default="cpu",
                   help="where the embeddings and LM head run: cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                   help="their dtype; auto = bfloat16/float16 on CUDA, float32 on CPU")


def client_config(args: argparse.Namespace) -> ClientConfig:
    from dataclasses import replace

    from chainswarm.routing.client import ClientConfig
    from chainswarm.routing.router import RoutingConfig
    from chainswarm.routing.session import SessionConfig

    routing = replace(RoutingConfig(), session=SessionConfig(step_timeout_s=args.step_timeout),
                      dispatch_timeout_s=args.queue_timeout)
    return ClientConfig(args.model, tuple(args.initial_peers), args.model_id, routing,
                        device=args.device, dtype=args.dtype)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate text for one prompt through the swarm",
        description="Join the swarm as a client, send the prompt through a chain of nodes chosen by "
        "JFFC, and stream the answer to stdout. The model's chat template is applied unless "
        "--no-chat-template.",
    )
    p.add_argument("prompt", help="the prompt; '-' reads it from stdin")
    add_client_args(p)
    p.add_argument("--max-new-tokens", type=int, default=256, metavar="N", help="default 256")
    p.add_argument("--temperature", type=float, default=0.7,
                   help="sampling temperature; 0 = greedy (default 0.7)")
    p.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling mass (default 0.9)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest tokens; 0 = off")
    p.add_argument("--seed", type=int, help="random seed for reproducible sampling")
    p.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help="stop before this text (repeatable)")
    p.add_argument("--system", help="system message for the chat template")
    p.add_argument("--no-chat-template", action="store_true",
                   help="send the prompt as raw text, without the model's chat template")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainswarm.dht.peer import SwarmConnectionError
    from chainswarm.models.spec import ModelError
    from chainswarm.routing.client import start_client_dht
    from chainswarm.routing.sampling import SamplingParams
    from chainswarm.routing.session import ChainUnavailable

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    try:
        params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                top_p=args.top_p, top_k=args.top_k, seed=args.seed, stop=tuple(args.stop))
        config = client_config(args)
        dht = start_client_dht(config)
    except (ValueError, SwarmConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_generate(config, dht, prompt, args, params))
    except (ModelError, ChainUnavailable, ValueError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1


async def _generate(config: ClientConfig, dht: object, prompt: str, args: argparse.Namespace,
                    params: SamplingParams) -> int:
    from chainswarm.routing.client import SwarmClient

    client = await SwarmClient.create(config, dht)
    try:
        if args.no_chat_template:
            ids = client.generator.encode(prompt, chat=False)
        else:
            system = [{"role": "system", "content": args.system}] if args.system else []
            ids = client.generator.encode([*system, {"role": "user", "content": prompt}])
        began = time.perf_counter()
        completion = None
        async for delta in client.generator.stream(ids, params):
            sys.stdout.write(delta.text)
            sys.stdout.flush()
            completion = delta.completion or completion
        sys.stdout.write("\n")
        elapsed_s = time.perf_counter() - began
        route = " → ".join(str(hop) for hop in completion.route)
        failovers = f", {completion.failovers} failover(s)" if completion.failovers else ""
        print(f"[{len(completion.token_ids)} tokens in {elapsed_s:.2f} s via {route}{failovers}; "
              f"finish: {completion.finish_reason.value}]", file=sys.stderr)
        return 0
    finally:
        await client.close()
