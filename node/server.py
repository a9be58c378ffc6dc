"""A volunteer node's life: join → choose blocks → load → serve → (move) → drain → leave.

Order matters (reference/hivemind.md pitfall 9): the DHT process forks, so it starts before any
compute thread or CUDA context exists.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from dataclasses import dataclass

import torch

from chainswarm import __version__
from chainswarm.dht.peer import start_dht, visible_maddrs
from chainswarm.dht.records import NodeRecord, NodeState, SwarmSpec
from chainswarm.dht.swarm import SwarmDHT
from chainswarm.models.device import resolve_device, resolve_dtype
from chainswarm.models.span import BlockSpan
from chainswarm.models.spec import ModelInfo, block_bytes, cache_bytes, load_model_info
from chainswarm.node.announcer import Announcer
from chainswarm.node.choice import SpanChoice, choose_span, current_reservation, fixed_span
from chainswarm.node.config import NodeConfig
from chainswarm.node.executor import DEFAULT_MAX_BATCH, Executor
from chainswarm.node.handler import NodeHandler
from chainswarm.node.memory import auto_memory_bytes
from chainswarm.node.rebalancer import wait_for_move
from chainswarm.node.sessions import SessionTable
from chainswarm.node.slots import SlotPool
from chainswarm.node.speed import NodeSpeed, node_speed
from chainswarm.placement import ServerSpec
from chainswarm.wire.messages import PROTOCOL_VERSION
from chainswarm.wire.service import BlockService, push_sender

logger = logging.getLogger(__name__)

EXPIRE_CHECK_S = 1.0
# Hold the swarm's moving lease this long at most: a reload of a span takes seconds to minutes.
MOVE_LEASE_S = 300.0


class NodeStartError(RuntimeError):
    """The node cannot join; the message says why and what to do."""


@dataclass
class _Serving:
    choice: SpanChoice
    sessions: SessionTable
    span: BlockSpan | None = None  # None while loading (JOINING)
    state: NodeState = NodeState.JOINING


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.info: ModelInfo = load_model_info(config.model)
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        dtype_name = str(self.dtype).removeprefix("torch.")
        self.spec = SwarmSpec(
            model_id=self.info.model_id, num_blocks=self.info.num_blocks, dtype=dtype_name,
            max_length=config.max_length, block_bytes=block_bytes(self.info, self.dtype),
            cache_bytes=cache_bytes(self.info, self.dtype, config.max_length),
        )
        self.memory_bytes = config.memory_bytes or auto_memory_bytes(self.device)
        minimum = self.spec.block_bytes + self.spec.cache_bytes
        if self.memory_bytes < minimum:
            raise NodeStartError(
                f"--memory {self.memory_bytes} bytes is too small: one block of this model needs "
                f"{self.spec.block_bytes} bytes plus {self.spec.cache_bytes} of KV cache at "
                f"--max-length {config.max_length}; offer at least {minimum} bytes or lower --max-length")
        self._stop: asyncio.Event | None = None
        self._serving: _Serving | None = None
        self._joining_c = 1

    def run(self) -> None:
        """Join, serve until SIGINT/SIGTERM, then drain and leave. Blocks."""
        cfg = self.config
        dht = start_dht(cfg.initial_peers, host_maddrs=cfg.listen, announce_maddrs=cfg.announce or None,
                        identity_path=cfg.identity_path, client_mode=cfg.auto_relay, auto_relay=cfg.auto_relay)
        try:
            self.swarm = SwarmDHT.for_model(dht, self.spec.model_id)
            self.peer_id = self.swarm.peer_id
            self.maddrs = tuple(visible_maddrs(dht))
            view = self.swarm.read_swarm()
            if view.spec is not None and (diff := self.spec.mismatch(view.spec)):
                raise NodeStartError(f"this node's swarm constants differ from the swarm's (ours != "
                                     f"theirs): {diff}. Use the same model file, --dtype and --max-length.")
            self.speed: NodeSpeed = node_speed(self.info, self.device, self.dtype, cfg.cache_dir,
                                              remeasure=cfg.remeasure_speed)
            asyncio.run(self._main())
        finally:
            dht.shutdown()

    # --- the serving loop -------------------------------------------------------------------

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        p2p = await self.swarm.dht.replicate_p2p()
        view = await asyncio.to_thread(self.swarm.read_swarm)
        model = self.spec.model_spec()
        # Before it serves, the node rates itself at the c the swarm runs with, as the others rate
        # themselves; rated alone it would look several times faster than identical peers.
        self._joining_c = current_reservation(view) or 1
        if self.config.blocks is not None:
            choice: SpanChoice | None = fixed_span(*self.config.blocks, self._server_spec(), model, view)
        else:
            choice = choose_span(view, self._server_spec(), model)
        announcer = Announcer(self.swarm, self.spec, self._record, self.config.update_period_s,
                              self.config.expiration_s)
        announcing = asyncio.create_task(announcer.run())
        try:
            while choice is not None and not self._stop.is_set():
                choice = await self._serve_span(choice, p2p, announcer)
        finally:
            announcing.cancel()
            await asyncio.gather(announcing, return_exceptions=True)
            await p2p.shutdown()

    async def _serve_span(self, choice: SpanChoice, p2p, announcer: Announcer) -> SpanChoice | None:
        """Load and serve one span until SIGTERM (→ None) or a rebalancing move (→ the next span)."""
        logger.info("hosting blocks [%d, %d) with c*=%d (%d cache slots, demand %.3g req/s)",
                    choice.span.start, choice.span.end, choice.c_reserved, choice.cache_slots,
                    choice.arrival_rate)
        pool = SlotPool(choice.cache_slots, idle_timeout_s=self.config.session_timeout_s)
        sessions = SessionTable(pool, (choice.span.start, choice.span.end), self.config.max_length,
                                self._new_cache)
        self._serving = _Serving(choice, sessions)
        await announcer.announce()  # JOINING: others count us while we load
        span = await asyncio.to_thread(BlockSpan.load, self.info, choice.span.start, choice.span.end,
                                       dtype=self.dtype, device=self.device, progress=True)
        self._serving.span = span
        executor = Executor(span, batching=self.config.batching, cuda_graphs=self.config.cuda_graphs)
        handler = NodeHandler(sessions, executor, self.info.hidden_size, self._info,
                              step_timeout_s=self.config.session_timeout_s, send_push=push_sender(p2p))
        service = BlockService(handler)
        await service.add_p2p_handlers(p2p)
        self._serving.state = NodeState.ONLINE
        await announcer.announce()
        await asyncio.to_thread(self.swarm.release_lease)  # a mover is done once online again
        logger.info("online: serving blocks [%d, %d) as %s", span.start, span.end, self.peer_id)
        stopping = asyncio.create_task(self._stop.wait())
        tasks = [asyncio.create_task(self._expire_loop(announcer))]
        if self.config.blocks is None:
            tasks.append(asyncio.create_task(wait_for_move(
                self.swarm, self._server_spec, choice.span, self.spec.model_spec(),
                self.config.mean_balance_check_s, MOVE_LEASE_S, random.Random(self.peer_id))))
        try:
            done, _ = await asyncio.wait([stopping, *tasks[1:]], return_when=asyncio.FIRST_COMPLETED)
            await self._drain(announcer, final=stopping in done)
            return None if stopping in done else tasks[1].result()
        finally:
            for task in [stopping, *tasks]:
                task.cancel()
            await asyncio.gather(stopping, *tasks, return_exceptions=True)
            await service.remove_p2p_handlers(p2p)
            executor.shutdown()
            self._serving.span = None
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # give the old span's memory back before loading the next

    async def _drain(self, announcer: Announcer, final: bool) -> None:
        """DRAINING (no new sessions) until sessions finish or the drain timeout; OFFLINE if leaving."""
        serving = self._serving
        serving.state = NodeState.DRAINING
        serving.sessions.draining = True
        logger.info("draining: %d session(s) in flight", len(serving.sessions))
        await announcer.announce()
        deadline = time.monotonic() + self.config.drain_timeout_s
        while len(serving.sessions) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if not final:
            return
        serving.state = NodeState.OFFLINE
        try:
            await asyncio.wait_for(announcer.announce(), timeout=5)
        except Exception as e:
            logger.warning("could not announce offline (%s); our record will expire", e)
        logger.info("left the swarm")

    async def _expire_loop(self, announcer: Announcer) -> None:
        while True:
            await asyncio.sleep(EXPIRE_CHECK_S)
            expired = self._serving.sessions.expire()
            if expired:
                logger.info("released %d idle session(s)", len(expired))
                announcer.trigger()

    # --- records ----------------------------------------------------------------------------

    def _server_spec(self) -> ServerSpec:
        return ServerSpec(self.peer_id, self.memory_bytes, 0.0, self._block_time_s())

    def _concurrency(self) -> int:
        """Jobs this node runs at once when full: c* of its span choice (the paper's capacity), or for
        ``--blocks`` the jobs its slots hold over the whole span (at most one batch). Before any span:
        the c the swarm runs with."""
        if self._serving is None:
            return self._joining_c
        choice = self._serving.choice
        return max(1, choice.c_reserved or min(choice.cache_slots // choice.span.count, DEFAULT_MAX_BATCH))

    def _block_time_s(self) -> float:
        """τ^p at this node's concurrency, with or without batching (node/speed.py)."""
        return self.speed.block_time_s(self.config.workload_input_tokens, self.config.workload_output_tokens,
                                       self._concurrency(), self.config.batching)

    def _record(self) -> NodeRecord:
        serving = self._serving
        pool = serving.sessions.pool
        span = serving.choice.span
        return NodeRecord(
            peer_id=self.peer_id, state=serving.state, start=span.start, end=span.end,
            memory_bytes=self.memory_bytes, block_bytes=self.spec.block_bytes,
            cache_slots_total=pool.total, cache_slots_free=pool.free,
            block_time_s=self._block_time_s(), prefill_s_per_token=self.speed.prefill_s_per_token,
            decode_s_per_step=self.speed.decode_s_per_job_step(self._concurrency(), self.config.batching),
            decode_s_per_step_alone=self.speed.decode_s_per_step, c_reserved=serving.choice.c_reserved,
            dtype=self.spec.dtype, device=str(self.device.type),
            throughput=self.speed.tokens_per_s(span.count, self._concurrency(), self.config.batching),
            version=__version__,
            announced_at=time.time(), public_name=self.config.public_name, maddrs=self.maddrs,
        )

    def _info(self) -> dict:
        return {"record": self._record().to_wire(), "spec": self.spec.to_wire(),
                "protocol": PROTOCOL_VERSION, "max_length": self.config.max_length,
                "hidden_size": self.info.hidden_size}

    def _new_cache(self, request) -> object:
        return self._serving.span.new_cache(request.max_length, first_block=request.start,
                                            last_block=request.end, batch_size=request.batch_size)
