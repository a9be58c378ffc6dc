"""Time a span's prefill and decode per block: the τ^p a node announces (paper §1, DESIGN.md).

Tests never call this for its numbers; nodes and bench/ scripts do.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

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


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
