"""A client of one model's swarm: the async core (:class:`SwarmClient`) and the sync facade
(:class:`RemoteModel`, what ``chainswarm.connect`` returns).

``SwarmClient`` lives in one event loop (an aiohttp server's, say). ``RemoteModel`` gives it a
loop of its own in a background thread, so plain scripts and notebooks call ``generate`` without
asyncio, and async code can still ``async for`` over ``stream`` from its own loop.

The DHT peer forks a process, so it is started first, in the calling thread, before any other
thread of ours exists (reference/hivemind.md pitfall 9).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hivemind import DHT

from chainswarm.dht.peer import start_dht
from chainswarm.dht.swarm import SwarmDHT
from chainswarm.models.device import resolve_device, resolve_dtype
from chainswarm.models.front import ModelFront, load_tokenizer
from chainswarm.models.spec import load_model_info
from chainswarm.routing.generation import Completion, Delta, Generator, Message
from chainswarm.routing.router import RoutingConfig, SwarmRouter
from chainswarm.routing.sampling import SamplingParams

logger = logging.getLogger(__name__)

Prompt = str | Sequence[Message]

CLIENT_MADDRS = ("/ip4/0.0.0.0/tcp/0",)
"""A client only dials out, but p2pd needs a listening address; any free port will do."""


@dataclass(frozen=True)
class ClientConfig:
    """What a client needs: the model's files (for the local front and the swarm's model id) and
    a way into the swarm. ``model_id`` overrides the id derived from the files, as on nodes."""

    model: str | Path
    initial_peers: tuple[str, ...]
    model_id: str | None = None
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    host_maddrs: tuple[str, ...] = CLIENT_MADDRS
    # Where the front (embeddings, final norm, LM head) runs: for a 7B model the LM head alone
    # reads 0.5 GB per token, milliseconds on a CPU. "auto" = as a node: a GPU if there is one.
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        if not self.initial_peers:
            raise ValueError("a client needs --initial-peers: the multiaddr of a bootstrap peer or node")
        resolve_dtype(self.dtype, resolve_device(self.device))  # a typo fails here, not after the DHT join


def start_client_dht(config: ClientConfig) -> DHT:
    """A client-mode DHT peer joined through ``config.initial_peers`` (blocks for a second or two)."""
    return start_dht(config.initial_peers, host_maddrs=config.host_maddrs, client_mode=True, nat_traversal=False)


class SwarmClient:
    """Generation over the swarm from one event loop. ``await SwarmClient.create(...)``, then
    ``stream``/``generate``; ``await close()`` at the end (it shuts down the DHT it was given)."""

    def __init__(self, dht: DHT, router: SwarmRouter, generator: Generator) -> None:
        self.dht = dht
        self.router = router
        self.generator = generator

    @classmethod
    async def create(cls, config: ClientConfig, dht: DHT) -> SwarmClient:
        """Load the model's front and tokenizer, read the swarm once, start background refreshes."""
        info = await asyncio.to_thread(load_model_info, config.model, model_id=config.model_id)
        device = resolve_device(config.device)
        front, tokenizer = await asyncio.gather(
            asyncio.to_thread(ModelFront.load, info, device=device, dtype=resolve_dtype(config.dtype, device)),
            asyncio.to_thread(load_tokenizer, info),
        )
        p2p = await dht.replicate_p2p()
        router = SwarmRouter(SwarmDHT.for_model(dht, info.model_id), p2p, config.routing)
        await router.start()
        if router.spec is None:
            logger.warning("no node of %s is announced yet; requests will wait for one", info.model_id)
        return cls(dht, router, Generator(front, tokenizer, router))

    @property
    def model_id(self) -> str:
        return self.generator.front.info.model_id

    async def stream(self, prompt: Prompt, params: SamplingParams, chat: bool | None = None) -> AsyncIterator[Delta]:
        """Text as it is generated; the last Delta carries the Completion (see ``Generator.encode``
        for ``chat``)."""
        ids = self.generator.encode(prompt, chat)
        async for delta in self.generator.stream(ids, params):
            yield delta

    async def generate(self, prompt: Prompt, params: SamplingParams, chat: bool | None = None) -> Completion:
        async for delta in self.stream(prompt, params, chat):
            if delta.completion is not None:
                return delta.completion
        raise AssertionError("a generation stream always ends with a completion")

    async def close(self) -> None:
        await self.router.stop()
        await self.router.p2p.shutdown()
        await asyncio.to_thread(self.dht.shutdown)


class RemoteModel:
    """A model served by a swarm, used like a local one. Thread-safe; close it (or use ``with``).

    ``generate`` blocks and returns a :class:`Completion` (``str()`` of it is the text);
    ``stream`` is an async iterator of text pieces for any event loop; ``stream_sync`` a plain one.
    Sampling keywords: ``max_new_tokens``, ``temperature`` (0 = greedy), ``top_p``, ``top_k``,
    ``seed``, ``stop`` (see :class:`SamplingParams`). ``chat``: see ``Generator.encode``.
    """

    def __init__(self, config: ClientConfig) -> None:
        dht = start_client_dht(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chainswarm-client", daemon=True)
        self._thread.start()
        try:
            self._client: SwarmClient = self.submit(SwarmClient.create(config, dht)).result()
        except BaseException:
            dht.shutdown()
            self._stop_loop()
            raise

    @property
    def client(self) -> SwarmClient:
        """The async core, for code that runs on this model's own loop."""
        return self._client

    def generate(self, prompt: Prompt, *, chat: bool | None = None, **sampling: Any) -> Completion:
        return self.submit(self._client.generate(prompt, SamplingParams(**_stop_tuple(sampling)), chat)).result()

    async def stream(self, prompt: Prompt, *, chat: bool | None = None, **sampling: Any) -> AsyncIterator[str]:
        """Text pieces as they are generated, from whatever event loop awaits this."""
        params = SamplingParams(**_stop_tuple(sampling))
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[tuple[str | None, BaseException | None]] = asyncio.Queue()

        async def produce() -> None:
            try:
                async for delta in self._client.stream(prompt, params, chat):
                    if delta.text:
                        loop.call_soon_threadsafe(pieces.put_nowait, (delta.text, None))
                loop.call_soon_threadsafe(pieces.put_nowait, (None, None))
            except BaseException as e:
                loop.call_soon_threadsafe(pieces.put_nowait, (None, e))
                raise

        producer = self.submit(produce())
        try:
            while True:
                piece, error = await pieces.get()
                if error is not None:
                    raise error
                if piece is None:
                    return
                yield piece
        finally:
            producer.cancel()

    def stream_sync(self, prompt: Prompt, *, chat: bool | None = None, **sampling: Any) -> Iterator[str]:
        """Like ``stream``, for code without an event loop."""
        params = SamplingParams(**_stop_tuple(sampling))
        agen = self._client.stream(prompt, params, chat)
        try:
            while True:
                try:
                    delta = self.submit(anext(agen)).result()
                except StopAsyncIteration:
                    return
                if delta.text:
                    yield delta.text
        finally:
            self.submit(agen.aclose()).result()

    def close(self) -> None:
        if self._thread.is_alive():
            self.submit(self._client.close()).result()
            self._stop_loop()

    def __enter__(self) -> RemoteModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, coroutine: Any) -> Future:
        """Run ``coroutine`` on this model's event loop (where ``client`` lives); returns a
        ``concurrent.futures.Future`` of its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


def connect(
    model: str | Path, initial_peers: Sequence[str], *, model_id: str | None = None, device: str = "cpu",
    dtype: str = "auto", **routing: Any
) -> RemoteModel:
    """Join the swarm serving ``model`` (a local Hugging Face directory or .gguf file, the same files
    the nodes serve) through ``initial_peers``. ``device``/``dtype`` place the local embeddings and
    LM head (see :class:`ClientConfig`); other keywords override :class:`RoutingConfig` fields."""
    config = ClientConfig(model, tuple(initial_peers), model_id, replace(RoutingConfig(), **routing),
                          device=device, dtype=dtype)
    return RemoteModel(config)


def _stop_tuple(sampling: dict[str, Any]) -> dict[str, Any]:
    """Accept ``stop="x"`` or any sequence of strings."""
    stop = sampling.get("stop")
    if isinstance(stop, str):
        return {**sampling, "stop": (stop,)}
    if stop is not None:
        return {**sampling, "stop": tuple(stop)}
    return sampling
