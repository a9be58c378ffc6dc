"""Runs span computations off the event loop, on one compute thread.

One thread, because the device is one: concurrent forwards would only contend for it, and a single
worker keeps the order of a session's steps. Tensors arrive on the CPU from the wire and go back
to the CPU for it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import torch

from chainswarm.models.cache import CacheOverflowError
from chainswarm.models.span import BlockSpan
from chainswarm.node.sessions import Session
from chainswarm.wire.messages import ErrorCode, RpcError


class Executor:
    def __init__(self, span: BlockSpan) -> None:
        self.span = span
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compute")

    async def forward(self, hidden: torch.Tensor, first_block: int, last_block: int) -> torch.Tensor:
        """Stateless pass of a whole sequence through blocks [first_block, last_block)."""
        return await self._run(self._forward, hidden, first_block, last_block)

    async def step(self, session: Session, hidden: torch.Tensor, position: int) -> torch.Tensor:
        """The session's tokens at [position, position + T): rolls the cache back to ``position``
        first when the client re-sends tokens (replay after a failover)."""
        return await self._run(self._step, session, hidden, position)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _run(self, fn, *args) -> torch.Tensor:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _forward(self, hidden: torch.Tensor, first_block: int, last_block: int) -> torch.Tensor:
        x = hidden.to(self.span.device, self.span.dtype)
        return self.span.forward(x, None, first_block, last_block).cpu()

    def _step(self, session: Session, hidden: torch.Tensor, position: int) -> torch.Tensor:
        cache = session.cache
        if position < cache.length:
            cache.truncate(position)
        x = hidden.to(self.span.device, self.span.dtype)
        try:
            return self.span.forward(x, cache).cpu()
        except CacheOverflowError as e:
            raise RpcError(ErrorCode.BAD_REQUEST, str(e)) from None
