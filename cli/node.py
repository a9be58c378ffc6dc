"""``chainswarm node``: a volunteer node that hosts a span of the model's blocks."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int | None:
    """``auto`` → None; ``12GB``, ``1.5GiB``, ``800000000`` → bytes."""
    if text.lower() == "auto":
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size: use auto, a byte count, or a number with KB/MB/GB/KiB/MiB/GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_blocks(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+):(\d+)", text)
    if not match or int(match.group(1)) >= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a block range: use A:B with A < B, e.g. 0:10")
    return int(match.group(1)), int(match.group(2))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "node",
        help="host a span of a model's blocks for the swarm",
        description="Join a swarm, choose which blocks to host (GBP-CR cache-reservation rules, or "
        "--blocks), load only those blocks, and serve them until Ctrl-C or SIGTERM.",
    )
    p.add_argument("--model", required=True,
                   help="local Hugging Face directory (safetensors) or a .gguf file")
    p.add_argument("--initial-peers", nargs="*", default=[], metavar="MADDR",
                   help="multiaddrs printed by `chainswarm bootstrap` (or any node); none starts a new swarm")
    p.add_argument("--memory", type=parse_bytes, default=None, metavar="BYTES|auto",
                   help="memory offered for blocks and KV cache, e.g. 12GB; auto = free CUDA memory minus "
                   "2 GiB, or 25%% of RAM on CPU (default auto)")
    p.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu (default auto)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                   help="compute dtype; auto = bfloat16/float16 on CUDA, float32 on CPU")
    p.add_argument("--blocks", type=parse_blocks, metavar="A:B",
                   help="host blocks [A, B) instead of choosing; disables rebalancing")
    p.add_argument("--max-length", type=int, default=2048, metavar="N",
                   help="swarm's maximum sequence length (fixes s_c; every node must agree)")
    p.add_argument("--listen", action="append", metavar="MADDR",
                   help="multiaddr to listen on (repeatable); default /ip4/0.0.0.0/tcp/0")
    p.add_argument("--announce", action="append", default=[], metavar="MADDR",
                   help="public multiaddr to advertise (port forwarding, NAT); repeatable")
    p.add_argument("--auto-relay", action="store_true",
                   help="behind NAT without a forwarded port: be reachable through public peers' relays")
    p.add_argument("--identity", type=Path, metavar="FILE", help="key file for a stable peer id")
    p.add_argument("--public-name", default="", help="name shown in the health dashboard")
    p.add_argument("--update-period", type=float, default=10.0, metavar="S",
                   help="seconds between DHT announcements (records expire after 2.5 periods)")
    p.add_argument("--no-batching", action="store_true",
                   help="run each session's decode step alone instead of batching concurrent sessions")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="decode eagerly on CUDA instead of replaying each session's captured step")
    p.add_argument("--remeasure-speed", action="store_true",
                   help="measure this device's speed again instead of using the cached figure")
    p.add_argument("--torch-threads", type=int, metavar="N", help="CPU threads for torch (default: torch's)")
    p.add_argument("--cache-dir", type=Path, help="where the measured speed is cached (~/.cache/chainswarm)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainswarm.dht.peer import SwarmConnectionError
    from chainswarm.models.spec import ModelError
    from chainswarm.node.config import NodeConfig
    from chainswarm.node.server import Node, NodeStartError

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    extra = {"cache_dir": args.cache_dir} if args.cache_dir else {}
    try:
        config = NodeConfig(
            model=args.model, initial_peers=tuple(args.initial_peers), memory_bytes=args.memory,
            device=args.device, dtype=args.dtype, blocks=args.blocks, max_length=args.max_length,
            listen=tuple(args.listen or ["/ip4/0.0.0.0/tcp/0"]), announce=tuple(args.announce),
            identity_path=args.identity, auto_relay=args.auto_relay, public_name=args.public_name,
            update_period_s=args.update_period, batching=not args.no_batching,
            cuda_graphs=not args.no_cuda_graphs,
            remeasure_speed=args.remeasure_speed, **extra,
        )
        Node(config).run()
    except (ValueError, ModelError, NodeStartError, SwarmConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
