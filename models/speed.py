"""Time a span's prefill and decode per block: the τ^p a node announces (paper §1, DESIGN.md).

Tests never call this for its numbers; nodes and bench/ scripts do.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch

from .span import BlockSpan


@dataclass(frozen=True)
class BlockSpeed:
    """Seconds per block: prefill per token (at `prefill_tokens` per chunk), decode per step at batch 1."""

    prefill_s_per_token: float
    decode_s_per_step: float
    prefill_tokens: int
    decode_steps: int


def measure_block_speed(
    span: BlockSpan, *, prefill_tokens: int = 128, decode_steps: int = 16, repeats: int = 3
) -> BlockSpeed:
    """Median of `repeats` prefills of `prefill_tokens`, then median of `decode_steps` single-token steps.

    One warm-up prefill and step run first (allocator, kernel selection). The figures are divided
    by the span's block count.
    """
    n_blocks = span.end - span.start
    hidden = torch.randn(1, prefill_tokens, span.info.hidden_size, generator=torch.Generator().manual_seed(0))
    hidden = hidden.to(device=span.device, dtype=span.dtype)
    step = hidden[:, :1]
    warm = span.new_cache(prefill_tokens + 1)
    span.forward(hidden, warm)
    span.forward(step, warm)
    warm.discard()

    cache = span.new_cache(prefill_tokens + decode_steps)
    prefill_s = []
    for _ in range(repeats):
        cache.truncate(0)
        prefill_s.append(_timed(lambda: span.forward(hidden, cache), span.device))
    step_s = [_timed(lambda: span.forward(step, cache), span.device) for _ in range(decode_steps)]
    cache.discard()
    return BlockSpeed(
        prefill_s_per_token=statistics.median(prefill_s) / prefill_tokens / n_blocks,
        decode_s_per_step=statistics.median(step_s) / n_blocks,
        prefill_tokens=prefill_tokens,
        decode_steps=decode_steps,
    )


def measure_decode_batches(
    span: BlockSpan, batch_sizes: Sequence[int] = (1, 4, 16, 64), *, context_tokens: int = 128, steps: int = 8
) -> dict[int, float]:
    """Seconds per block of one batched decode step of b sessions, for each b in `batch_sizes`.

    Each session has its own cache holding `context_tokens` tokens, and the step goes through
    `forward_batch` (b > 1) or `forward` (b = 1), the paths of the node's executor.
    Median of `steps` steps after one warm-up.
    """
    n_blocks = span.end - span.start
    g = torch.Generator().manual_seed(1)
    out: dict[int, float] = {}
    for batch in batch_sizes:
        caches = [span.new_cache(context_tokens + steps + 1) for _ in range(batch)]
        for cache in caches:
            cache.advance(context_tokens)  # zero keys/values: their values do not change the time
        step = torch.randn(batch, 1, span.info.hidden_size, generator=g).to(span.device, span.dtype)

        run = partial(_decode_step, span, step, caches)
        run()
        times = [_timed(run, span.device) for _ in range(steps)]
        out[batch] = statistics.median(times) / n_blocks
        for cache in caches:
            cache.discard()
    return out


def _decode_step(span: BlockSpan, step: torch.Tensor, caches: list) -> None:
    """One session alone takes the executor's unbatched path; several take `forward_batch`."""
    if len(caches) == 1:
        span.forward(step, caches[0])
    else:
        span.forward_batch(step, caches)


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
