"""``chainswarm bootstrap``: a DHT-only peer that others join through."""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bootstrap",
        help="run a DHT-only peer and print the multiaddrs others pass as --initial-peers",
        description="Run a DHT-only peer (no blocks) that nodes and clients join through. Prints "
        "its multiaddrs on stdout, one per line, then serves until Ctrl-C or SIGTERM.",
    )
    p.add_argument("--listen", action="append", metavar="MADDR",
                   help="multiaddr to listen on (repeatable); default /ip4/0.0.0.0/tcp/31337")
    p.add_argument("--announce", action="append", metavar="MADDR",
                   help="public multiaddr to advertise, e.g. behind port forwarding (repeatable)")
    p.add_argument("--identity", metavar="FILE",
                   help="private key file; created if missing. Keeps the peer id and address stable")
    p.add_argument("--initial-peers", nargs="*", default=[], metavar="MADDR",
                   help="join an existing swarm instead of starting a new one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainswarm.dht.peer import SwarmConnectionError, start_dht, visible_maddrs

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        dht = start_dht(
            args.initial_peers,
            host_maddrs=args.listen or ["/ip4/0.0.0.0/tcp/31337"],
            announce_maddrs=args.announce,
            identity_path=args.identity,
        )
    except SwarmConnectionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        for maddr in visible_maddrs(dht):
            print(maddr, flush=True)
        print("bootstrap peer running; pass any line above as --initial-peers. Ctrl-C to stop.",
              file=sys.stderr, flush=True)
        stop.wait()
    finally:
        dht.shutdown()
    return 0
