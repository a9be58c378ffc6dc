"""Start this process's hivemind DHT peer, with a clear error when the swarm cannot be reached."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from hivemind import DHT
from hivemind.dht.node import DHTNode

R = TypeVar("R")

LOCAL_MADDRS = ("/ip4/127.0.0.1/tcp/0",)
"""Loopback on an ephemeral port: hivemind's default, right for tests and single-host swarms.
Volunteers reachable by others pass e.g. ``/ip4/0.0.0.0/tcp/31337`` (the node CLI does)."""

DEFAULT_START_TIMEOUT_S = 60.0
"""p2pd start plus bootstrap pings; hivemind's own 15 s p2pd limit is too tight on busy hosts
(gensyn-ai/rl-swarm#125)."""


class SwarmConnectionError(RuntimeError):
    """The DHT peer could not start or could not reach any initial peer."""


def start_dht(
    initial_peers: Sequence[str] = (),
    *,
    host_maddrs: Sequence[str] = LOCAL_MADDRS,
    announce_maddrs: Sequence[str] | None = None,
    identity_path: str | Path | None = None,
    client_mode: bool = False,
    nat_traversal: bool = True,
    auto_relay: bool = False,
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> DHT:
    """A running DHT peer (a forked process plus its p2pd) that joined through ``initial_peers``.

    No ``initial_peers`` starts a new swarm (a bootstrap peer). ``identity_path`` keeps the peer
    id, hence the multiaddrs, stable across restarts. ``client_mode`` peers store and read but
    serve no DHT requests (clients, peers behind NAT). ``nat_traversal=False`` turns off UPnP and
    AutoNAT probing, for loopback tests. ``auto_relay`` makes a peer behind NAT reachable through
    circuit relays of public peers (hivemind's ``use_auto_relay``). Call before starting threads
    or CUDA (the DHT forks).
    Raises :class:`SwarmConnectionError` with what to check when the peer cannot start or join;
    the caller owns the returned DHT and must ``shutdown()`` it.
    """
    options: dict[str, object] = {
        "host_maddrs": list(host_maddrs),
        "client_mode": client_mode,
        "startup_timeout": start_timeout_s,
    }
    if announce_maddrs:
        options["announce_maddrs"] = list(announce_maddrs)
    if identity_path is not None:
        options["identity_path"] = str(identity_path)
    if auto_relay:
        options.update(use_relay=True, use_auto_relay=True)
    if not nat_traversal:
        options.update(auto_nat=False, nat_port_map=False)
    dht = DHT(initial_peers=list(initial_peers) or None, start=False, **options)
    dht.run_in_background(await_ready=False)
    try:
        dht.wait_until_ready(timeout=start_timeout_s)
    except Exception as e:  # p2pd, bootstrap and address errors all surface here, re-raised with advice
        _stop(dht)
        raise SwarmConnectionError(_explain(e, initial_peers, start_timeout_s)) from e
    return dht


DEFAULT_CALL_TIMEOUT_S = 10.0
"""A DHT read or store on a healthy swarm takes milliseconds to a second; ten means trouble."""

_send_lock = threading.Lock()  # DHT.run_coroutine writes to one pipe; threads must take turns


def run_in_dht(dht: DHT, coroutine: Callable[[DHT, DHTNode], Awaitable[R]], timeout_s: float, what: str) -> R:
    """Run ``coroutine(dht, node)`` inside the DHT process and wait at most ``timeout_s``.

    ``coroutine`` must be a module-level function or a ``functools.partial`` of one: it is
    pickled into the forked DHT process (reference/hivemind.md, pitfall 6). Safe to call from
    several threads, e.g. through ``asyncio.to_thread`` in a node's event loop. Raises
    ``TimeoutError`` naming ``what`` when the DHT does not answer in time.
    """
    with _send_lock:
        future = dht.run_coroutine(coroutine, return_future=True)
    try:
        return future.result(timeout=timeout_s)
    except TimeoutError:
        future.cancel()
        raise TimeoutError(f"{what}: no answer from the DHT within {timeout_s:g} s") from None


def visible_maddrs(dht: DHT, timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> list[str]:
    """Multiaddrs (ending in ``/p2p/<peer id>``) that other peers pass as initial peers."""
    return run_in_dht(dht, _visible_maddrs, timeout_s, "reading visible multiaddrs")


def own_peer_id(dht: DHT, timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> str:
    """This peer's id in base58, the subkey of everything it announces."""
    return run_in_dht(dht, _own_peer_id, timeout_s, "reading the peer id")


async def _visible_maddrs(_dht: DHT, node: DHTNode) -> list[str]:
    return [str(m) for m in await node.get_visible_maddrs(latest=True)]


async def _own_peer_id(_dht: DHT, node: DHTNode) -> str:
    return node.peer_id.to_base58()


def _stop(dht: DHT) -> None:
    """Take down a DHT whose start failed or timed out, so no child process outlives it."""
    if dht.is_alive():
        dht.terminate()
    dht.join(timeout=5)


def _explain(error: Exception, initial_peers: Sequence[str], start_timeout_s: float) -> str:
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, TimeoutError):
        reason = f"no answer within {start_timeout_s:g} s"
    if not initial_peers:
        return f"could not start a DHT peer ({reason}); check --listen addresses and free ports"
    return (
        f"could not join the swarm through {', '.join(initial_peers)} ({reason}). Check that a "
        "bootstrap peer or node is running there, that the address is reachable from this host, "
        "and that it ends with /p2p/<peer id> as printed by `chainswarm bootstrap`."
    )
