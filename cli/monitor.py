"""``chainswarm monitor``: serve the health dashboard, ``/api/v1/state`` and ``/metrics``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from chainswarm.cli.health import EXIT_ERROR, add_swarm_arguments, join_swarm


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "monitor",
        help="serve a live health dashboard, a JSON state API and Prometheus metrics",
        description="Read the swarm every --refresh seconds and serve, over HTTP: / (dashboard with "
        "the block map), /api/v1/state (JSON) and /metrics (Prometheus text format). Watches every "
        "model on the swarm unless --model picks one. Prints the dashboard URL on stdout.",
    )
    add_swarm_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; "
                   "0.0.0.0 to serve other hosts)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument("--refresh", type=float, default=None, metavar="S",
                   help="seconds between reads of the swarm (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dht = join_swarm(args)
    if dht is None:
        return EXIT_ERROR
    try:
        return asyncio.run(_serve(dht, args))
    finally:
        dht.shutdown()


async def _serve(dht, args: argparse.Namespace) -> int:
    from aiohttp import web

    from chainswarm.monitor.source import SwarmSource
    from chainswarm.monitor.web import DEFAULT_REFRESH_S, Monitor, make_app

    source = SwarmSource(dht, args.model, args.timeout)
    monitor = Monitor(source.read, args.refresh or DEFAULT_REFRESH_S)
    runner = web.AppRunner(make_app(monitor))
    await runner.setup()
    try:
        site = web.TCPSite(runner, args.host, args.port)
        try:
            await site.start()
        except OSError as e:
            print(f"error: cannot serve on {args.host}:{args.port} ({e}); pick another --port",
                  file=sys.stderr)
            return EXIT_ERROR
        host, port = runner.addresses[0][:2]
        print(f"http://{host}:{port}/", flush=True)
        print(f"monitor serving the dashboard at http://{host}:{port}/ (API /api/v1/state, metrics "
              "/metrics); Ctrl-C to stop", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
