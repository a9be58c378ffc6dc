"""Runs span computations off the event loop: decode steps of concurrent sessions batched into one
forward, long prefills cut into chunks interleaved with everyone's decode steps.

Scheduling happens in rounds (decide, execute, update, as in vLLM's engine loop). A round takes
every waiting decode step — one token at its session's next position — and runs those that
share a block range as one batched forward, then advances every waiting prefill by one chunk of
at most ``prefill_chunk_tokens`` tokens. Work that arrives during a round joins the next one, so
one long prompt delays others' next token by at most one chunk. Results equal unbatched runs
(rows never attend to each other: each row has its own cache and positions).

Compute runs on one thread, because the device is one: concurrent forwards would only contend
for it. Tensors arrive on the CPU from the wire and go back to the CPU for it. On CUDA, a decode
step that runs alone replays its session's CUDA graph (models/graphs.py) from the session's second
step on; batched rounds stay eager, since their rows already share the kernel launches.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from chainswarm.models.cache import CacheOverflowError
from chainswarm.models.graphs import DecodeGraphs
from chainswarm.models.span import BlockSpan
from chainswarm.node.sessions import Session
from chainswarm.wire.messages import ErrorCode, RpcError

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 64  # rows per batched decode forward
DEFAULT_PREFILL_CHUNK = 256  # tokens per prefill chunk


@dataclass
class _Work:
    session: Session
    hidden: torch.Tensor  # (B, T, H) on the CPU, not yet run
    future: asyncio.Future
    done: list[torch.Tensor] = field(default_factory=list)  # outputs of the chunks run so far

    @property
    def is_decode(self) -> bool:
        return self.hidden.shape[1] == 1 and not self.done


class Executor:
    def __init__(self, span: BlockSpan, *, batching: bool = True, cuda_graphs: bool = True,
                 max_batch: int = DEFAULT_MAX_BATCH, prefill_chunk_tokens: int = DEFAULT_PREFILL_CHUNK) -> None:
        self.span = span
        self.batching = batching
        self.graphs = DecodeGraphs(span, enabled=cuda_graphs)
        self.max_batch = max_batch
        self.prefill_chunk_tokens = prefill_chunk_tokens
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compute")
        self._waiting: list[_Work] = []
        self._wake = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self.rounds = 0
        self.batched_rows = 0

    async def forward(self, hidden: torch.Tensor, first_block: int, last_block: int) -> torch.Tensor:
        """Stateless pass of a whole sequence through blocks [first_block, last_block)."""
        return await self._run(self._forward, hidden, first_block, last_block)

    async def step(self, session: Session, hidden: torch.Tensor, position: int) -> torch.Tensor:
        """The session's tokens at [position, position + T). The cache rolls back to ``position``
        first when the client re-sends tokens (replay after a failover)."""
        cache = session.cache
        if position < cache.length:
            cache.truncate(position)
        try:
            cache.check_room(hidden.shape[1])
        except CacheOverflowError as e:
            raise RpcError(ErrorCode.BAD_REQUEST, str(e)) from None
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_rounds())
        work = _Work(session, hidden, asyncio.get_running_loop().create_future())
        self._waiting.append(work)
        self._wake.set()
        return await work.future

    def shutdown(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
        for work in self._waiting:
            if not work.future.done():
                work.future.set_exception(RpcError(ErrorCode.DRAINING, "node is shutting this span down"))
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _run(self, fn, *args) -> torch.Tensor:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _run_rounds(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                work, self._waiting = self._waiting, []
                await self._round(work)

    async def _round(self, work: list[_Work]) -> None:
        """One round: batched decode steps, then one chunk of each prefill; unfinished prefills wait again."""
        self.rounds += 1
        decode = [w for w in work if w.is_decode]
        prefill = [w for w in work if not w.is_decode]
        for group in self._decode_groups(decode):
            await self._settle(group, self._run(self._decode_batch, [w.session.cache for w in group],
                                                [w.hidden for w in group]))
        for w in prefill:
            chunk = w.hidden[:, : self.prefill_chunk_tokens]
            rest = w.hidden[:, self.prefill_chunk_tokens:]
            try:
                out = await self._run(self._single, w.session.cache, chunk)
            except Exception as e:
                _fail(w, e)
                continue
            w.done.append(out)
            if rest.shape[1]:
                w.hidden = rest
                self._waiting.append(w)  # the next chunk goes in the next round
            elif not w.future.done():
                w.future.set_result(torch.cat(w.done, dim=1))

    def _decode_groups(self, decode: list[_Work]) -> list[list[_Work]]:
        if not self.batching:
            return [[w] for w in decode]
        groups: dict[tuple[int, int], list[_Work]] = defaultdict(list)
        for w in decode:
            groups[(w.session.cache.first_block, w.session.cache.last_block)].append(w)
        batches = []
        for group in groups.values():
            batch, rows = [], 0
            for w in group:  # no forward gets more than max_batch rows
                if batch and rows + w.hidden.shape[0] > self.max_batch:
                    batches.append(batch)
                    batch, rows = [], 0
                batch.append(w)
                rows += w.hidden.shape[0]
            batches.append(batch)
        return batches

    async def _settle(self, group: list[_Work], outputs) -> None:
        try:
            results = await outputs
        except Exception as e:
            for w in group:
                _fail(w, e)
            return
        self.batched_rows += sum(w.hidden.shape[0] for w in group) if len(group) > 1 else 0
        for w, out in zip(group, results, strict=True):
            if not w.future.done():
                w.future.set_result(out)

    # --- compute thread ---------------------------------------------------------------------

    def _forward(self, hidden: torch.Tensor, first_block: int, last_block: int) -> torch.Tensor:
        x = hidden.to(self.span.device, self.span.dtype)
        return self.span.forward(x, None, first_block, last_block).cpu()

    def _single(self, cache, hidden: torch.Tensor) -> torch.Tensor:
        return self.span.forward(hidden.to(self.span.device, self.span.dtype), cache).cpu()

    def _decode_batch(self, caches: list, hiddens: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(caches) == 1:
            x = hiddens[0].to(self.span.device, self.span.dtype)
            out = self.graphs.step(caches[0], x)
            return [self._single(caches[0], hiddens[0]) if out is None else out.cpu()]
        x = torch.cat(hiddens).to(self.span.device, self.span.dtype)
        out = self.span.forward_batch(x, caches).cpu()
        return list(out.split([h.shape[0] for h in hiddens]))


def _fail(work: _Work, error: Exception) -> None:
    if work.future.done():
        return
    if not isinstance(error, RpcError):
        logger.exception("compute failed", exc_info=error)
        error = RpcError(ErrorCode.INTERNAL, repr(error))
    work.future.set_exception(error)
