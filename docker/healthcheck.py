"""The image's HEALTHCHECK: is this container's ``chainswarm`` process doing its job?

- ``node``: its record is announced ``online`` in the DHT, read through the node's own DHT peer.
  That is what clients route by, so "healthy" means clients can use it; a node still loading
  (joining), draining, whose record expired or whose p2p daemon stopped answering is unhealthy.
- ``bootstrap``: its p2p daemon answers.
- ``serve`` / ``monitor``: their HTTP endpoint answers.

It finds the process and its arguments in /proc and parses them with chainswarm's own parser, so
it needs no arguments and works whatever flags the container was started with. The node's peer id
and addresses come from its p2p daemon's control socket (no --identity needed). Exit 0 healthy,
1 unhealthy, with one line saying why (Docker keeps it in ``docker inspect``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.request
from pathlib import Path

from chainswarm.cli.main import build_parser

DHT_TIMEOUT_S = 20.0
HTTP_PATHS = {"serve": "/v1/models", "monitor": "/api/v1/state"}


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:  # the process ended while we looked
        return []


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _pids() -> list[int]:
    return sorted(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())


def find_command() -> tuple[int, argparse.Namespace]:
    """The ``chainswarm`` process (pid, parsed arguments); the oldest one if several."""
    for pid in _pids():
        argv = _argv(pid)
        for i, arg in enumerate(argv[:2]):
            if Path(arg).name == "chainswarm" and len(argv) > i + 1:
                return pid, build_parser().parse_args(argv[i + 1:])
    raise LookupError("no chainswarm process in this container")


def daemon_socket(pid: int) -> str:
    """The control socket of the p2p daemon that ``pid`` (or a child it forked) started."""
    for candidate in _pids():
        argv = _argv(candidate)
        if not argv or Path(argv[0]).name != "p2pd":
            continue
        ancestor = _parent(candidate)
        while ancestor > 1 and ancestor != pid:
            ancestor = _parent(ancestor)
        if ancestor == pid:
            return next(a.removeprefix("-listen=") for a in argv if a.startswith("-listen="))
    raise LookupError("its p2p daemon is not running")


async def identify(socket: str) -> tuple[str, list[str]]:
    """Peer id and multiaddrs of the daemon behind ``socket``; raises if it does not answer."""
    from hivemind.p2p import P2P
    from hivemind.utils.multiaddr import Multiaddr

    p2p = await asyncio.wait_for(P2P.replicate(Multiaddr(socket)), DHT_TIMEOUT_S)
    try:
        return p2p.peer_id.to_base58(), [str(m) for m in await p2p.get_visible_maddrs()]
    finally:
        await p2p.shutdown()


def dial_maddr(args: argparse.Namespace, peer_id: str, visible: list[str]) -> str:
    """An address of the node to join its DHT through from inside the container, loopback first.

    With ``--announce`` the daemon lists only the announced (public) addresses, which the host
    often cannot dial itself (no NAT hairpin), so ``--listen``'s come next, 0.0.0.0 as 127.0.0.1.
    """
    listened = [m.replace("/ip4/0.0.0.0/", "/ip4/127.0.0.1/", 1) for m in args.listen or []
                if m.startswith("/ip4/") and not m.endswith("/tcp/0")]
    ordered = ([m for m in visible if m.startswith("/ip4/127.")] + listened
               + [m for m in visible if m.startswith("/ip4/")])
    if not ordered:
        raise LookupError(f"no IPv4 address to reach the node at (it announces {visible})")
    return ordered[0] if "/p2p/" in ordered[0] else f"{ordered[0]}/p2p/{peer_id}"


def node_state(peer_id: str, maddr: str) -> str:
    """The node's announced state, read from the DHT through the node itself (at ``maddr``).

    The swarms come from the DHT's model index rather than from ``--model``: reading a model's
    config would import transformers, which takes longer than the whole DHT read.
    """
    from chainswarm.dht.peer import start_dht
    from chainswarm.dht.swarm import SwarmDHT, list_models

    dht = start_dht([maddr], client_mode=True, nat_traversal=False, start_timeout_s=DHT_TIMEOUT_S)
    try:
        for prefix in list_models(dht, DHT_TIMEOUT_S):
            record = SwarmDHT(dht, prefix, timeout_s=DHT_TIMEOUT_S).read_swarm().nodes.get(peer_id)
            if record is not None:
                return str(record.state)
    finally:
        dht.shutdown()
    return "not in the DHT"


def check() -> str:
    """Why the container is healthy; raises (any error) with why it is not."""
    pid, args = find_command()
    if args.command in HTTP_PATHS:
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        url = f"http://{host}:{args.port}{HTTP_PATHS[args.command]}"
        with urllib.request.urlopen(url, timeout=DHT_TIMEOUT_S) as response:
            return f"{args.command}: {url} answered {response.status}"
    if args.command not in ("node", "bootstrap"):
        return f"{args.command}: running (nothing more to check)"
    peer_id, maddrs = asyncio.run(identify(daemon_socket(pid)))
    if args.command == "bootstrap":
        return f"bootstrap: p2p daemon of {peer_id} answers"
    state = node_state(peer_id, dial_maddr(args, peer_id, maddrs))
    if state != "online":
        raise RuntimeError(f"node {peer_id} is {state}")
    return f"node {peer_id} is online"


def main() -> int:
    try:
        print(check())
    except Exception as e:  # any failure is "unhealthy", with its reason
        print(f"unhealthy: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
