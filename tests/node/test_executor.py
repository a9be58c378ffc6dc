"""The node's executor: batched decode steps and chunked prefill equal one-at-a-time runs."""

from __future__ import annotations

import asyncio

import pytest
import torch

from chainswarm.models.random_init import random_span
from chainswarm.models.spec import load_model_info
from chainswarm.node.executor import Executor
from chainswarm.node.sessions import Session
from chainswarm.wire.messages import ErrorCode, RpcError
from tests.tiny_model import write_tiny_llama


@pytest.fixture(scope="module")
def span(tmp_path_factory):
    info = load_model_info(write_tiny_llama(tmp_path_factory.mktemp("tiny") / "m", num_layers=4))
    return random_span(info, 0, 4, seed=3)


def _session(span, name: str, first: int = 0, batch: int = 1) -> Session:
    cache = span.new_cache(64, first_block=first, last_block=span.end, batch_size=batch)
    return Session(name, "peer", first, span.end, 64, batch, cache)


def _prompts(lengths, batch=1):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, n, 64, generator=g) for n in lengths]


async def _generate(executor, sessions, prompts, steps):
    """Prefill each session, then run ``steps`` decode steps of all sessions concurrently."""
    outs = await asyncio.gather(*(executor.step(s, p, 0) for s, p in zip(sessions, prompts, strict=True)))
    g = torch.Generator().manual_seed(1)
    tokens = [[torch.randn(p.shape[0], 1, 64, generator=g) for _ in range(steps)] for p in prompts]
    for k in range(steps):
        outs += await asyncio.gather(*(
            executor.step(s, tokens[i][k], p.shape[1] + k)
            for i, (s, p) in enumerate(zip(sessions, prompts, strict=True))))
    return outs


@pytest.mark.parametrize("first_blocks", [[0, 0, 0, 0], [0, 1, 0, 1]])
async def test_batched_decode_equals_unbatched(span, first_blocks):
    prompts = _prompts([5, 9, 2, 7])
    batched = Executor(span, batching=True)
    alone = Executor(span, batching=False)
    try:
        got = await _generate(batched, [_session(span, f"b{i}", f) for i, f in enumerate(first_blocks)], prompts, 6)
        want = await _generate(alone, [_session(span, f"a{i}", f) for i, f in enumerate(first_blocks)], prompts, 6)
    finally:
        batched.shutdown()
        alone.shutdown()
    assert batched.batched_rows > 0 and alone.batched_rows == 0
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=0)


async def test_long_prefill_is_chunked_and_interleaved_with_decode(span):
    executor = Executor(span, prefill_chunk_tokens=8)
    reference = Executor(span, prefill_chunk_tokens=1000)
    try:
        short = _session(span, "short")
        await executor.step(short, torch.randn(1, 3, 64), 0)
        long_prompt = torch.randn(1, 40, 64)
        long_task = asyncio.create_task(executor.step(_session(span, "long"), long_prompt, 0))
        await asyncio.sleep(0)
        rounds_before = executor.rounds
        decoded = await executor.step(short, torch.randn(1, 1, 64), 3)
        # the decode step finished while the 5-chunk prefill was still going
        assert not long_task.done() and executor.rounds - rounds_before < 5
        out = await long_task
        whole = await reference.step(_session(span, "ref"), long_prompt, 0)
    finally:
        executor.shutdown()
        reference.shutdown()
    assert decoded.shape == (1, 1, 64)
    torch.testing.assert_close(out, whole, atol=1e-5, rtol=0)


async def test_overflow_and_replay(span):
    executor = Executor(span)
    try:
        session = _session(span, "s")
        x = torch.randn(1, 10, 64)
        first = await executor.step(session, x, 0)
        await executor.step(session, torch.randn(1, 1, 64), 10)
        again = await executor.step(session, x, 0)  # replay rolls the cache back
        torch.testing.assert_close(first, again, atol=1e-6, rtol=0)
        with pytest.raises(RpcError) as info:
            await executor.step(session, torch.randn(1, 60, 64), 10)
        assert info.value.code is ErrorCode.BAD_REQUEST
        assert session.cache.length == 10
    finally:
        executor.shutdown()
