"""``chainswarm serve``: an OpenAI-compatible HTTP API in front of the swarm."""

from __future__ import annotations

import argparse
import sys

from chainswarm.cli.generate import add_client_args, client_config


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the swarm's model over an OpenAI-compatible HTTP API",
        description="Join the swarm as a client and answer /v1/models, /v1/completions and "
        "/v1/chat/completions (streaming or not). Concurrent requests share the swarm through one "
        "JFFC queue, so many users can point their OpenAI clients at one gateway.",
    )
    add_client_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="default 8000")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from chainswarm.api.server import create_app, served_names
    from chainswarm.dht.peer import SwarmConnectionError
    from chainswarm.models.spec import ModelError
    from chainswarm.routing.client import SwarmClient, start_client_dht

    try:
        config = client_config(args)
        dht = start_client_dht(config)
    except (ValueError, SwarmConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    async def make_app() -> web.Application:
        client = await SwarmClient.create(config, dht)
        app = create_app(client)

        async def close(_app: web.Application) -> None:
            await client.close()

        app.on_cleanup.append(close)
        names = ", ".join(served_names(client))
        print(f"serving {names} at http://{args.host}:{args.port}/v1 (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        return app

    try:
        web.run_app(make_app(), host=args.host, port=args.port, print=None)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
