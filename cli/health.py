"""``chainswarm health``: whether the swarm can serve the model, as text or one JSON object.

Exit status: 0 healthy, 1 some block has no online node (or no model is announced), 2 the swarm
could not be reached or the command was misused (no --initial-peers, several models and no
--model), so scripts and cron jobs can alert on non-zero.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_ERROR = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "health",
        help="report whether every block of the model is served, and how loaded the swarm is",
        description="Read the swarm once and print its health: blocks uncovered or covered once, "
        "the block map, the chains GCA composes, service rate, demand and the Theorem-4 bounds. "
        "Exits 1 when some block has no online node, 2 when the swarm cannot be reached.",
    )
    add_swarm_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    p.set_defaults(func=run)


def add_swarm_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments ``health`` and ``monitor`` share."""
    p.add_argument("--initial-peers", nargs="*", default=[], metavar="MADDR",
                   help="multiaddrs printed by `chainswarm bootstrap` (or any node's); required")
    p.add_argument("--model", help="model id (or swarm key prefix) to report on; optional when the "
                   "swarm serves one model")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for each DHT read (default 10)")


def join_swarm(args: argparse.Namespace):
    """A client-mode DHT peer for reading the swarm, or None after printing why there is none."""
    if not args.initial_peers:
        print("error: --initial-peers is required: pass the multiaddr printed by `chainswarm bootstrap` "
              "or by any node of the swarm", file=sys.stderr)
        return None
    from chainswarm.dht.peer import SwarmConnectionError, start_dht

    try:
        return start_dht(args.initial_peers, client_mode=True, nat_traversal=False)
    except SwarmConnectionError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    dht = join_swarm(args)
    if dht is None:
        return EXIT_ERROR
    from chainswarm.monitor.collect import collect
    from chainswarm.monitor.report import render_health
    from chainswarm.monitor.source import ModelChoiceError, NoModelAnnounced, SwarmSource, pick_prefix

    try:
        source = SwarmSource(dht, args.model, args.timeout)
        prefix = pick_prefix(source.index(), args.model)
        health = collect(source.read([prefix])[0])
    except NoModelAnnounced as e:
        print(f"unhealthy: {e}", file=sys.stderr)
        return EXIT_UNHEALTHY
    except (ModelChoiceError, TimeoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        dht.shutdown()
    if args.json:
        print(json.dumps(health.to_json(), allow_nan=False))
    else:
        sys.stdout.write(render_health(health))
    return EXIT_HEALTHY if health.healthy else EXIT_UNHEALTHY
