"""Run a contiguous slice of decoder blocks with per-session KV caches.

A node holds one `BlockSpan` (its blocks [start, end)) and many `SpanCache`s, one per session. A
session may use only part of the span, e.g. the tail [first_block, end) when the previous hop of
its chain already computed the blocks before `first_block`; its cache holds only those blocks.

Positions come from the cache length, so prefill, decode steps and chunked prefill (T > 1 tokens
onto a non-empty cache) all go through `forward`. Masks are built by hand, exactly as transformers'
`create_causal_mask`/`create_sliding_window_causal_mask` would (reference/transformers-notes.md §4),
and left as None where sdpa's own causal handling is already exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .cache import BatchedCaches, CacheOverflowError, SpanCache, StaticPositionWriter
from .family import family_of, sliding_window
from .loader import check_block_range, load_blocks
from .spec import ModelInfo

__all__ = ["BlockSpan", "CacheOverflowError", "SpanCache"]


class BlockSpan:
    """Decoder blocks [start, end) of one model on one device, ready to run.

    Thread-safety: `forward` reads the layers and writes only the cache it is given, so calls with
    different caches may run concurrently; one cache must not be used by two calls at once.
    """

    def __init__(self, info: ModelInfo, start: int, layers: Sequence[nn.Module]):
        check_block_range(info, start, start + len(layers))
        self.info = info
        self.start = start
        self.end = start + len(layers)
        self.layers = list(layers)
        first = next(self.layers[0].parameters())
        self.dtype: torch.dtype = first.dtype
        self.device: torch.device = first.device
        family = family_of(info.config)
        self.rotary = family.rotary_cls(info.config).to(self.device)
        self._cache_kwarg = family.cache_kwarg
        self._windows = [sliding_window(info.config, b) for b in range(self.start, self.end)]

    @classmethod
    def load(
        cls,
        info: ModelInfo,
        start: int,
        end: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        progress: bool = False,
    ) -> BlockSpan:
        """Load blocks [start, end) from the model's files (only those blocks' tensors are read)."""
        return cls(info, start, load_blocks(info, start, end, dtype=dtype, device=device, progress=progress))

    def new_cache(
        self,
        max_length: int,
        *,
        first_block: int | None = None,
        last_block: int | None = None,
        batch_size: int = 1,
    ) -> SpanCache:
        """An empty cache for a session over blocks [first_block, last_block) (default: the whole span).

        Allocates batch_size·(last−first)·cache_bytes(max_length) at once: memory is reserved up front.
        """
        first, last = self._block_range(first_block, last_block)
        return SpanCache(
            first,
            last,
            max_length,
            num_kv_heads=self.info.num_kv_heads,
            head_dim=self.info.head_dim,
            batch_size=batch_size,
            dtype=self.dtype,
            device=self.device,
        )

    @torch.inference_mode()
    def forward(
        self,
        hidden: torch.Tensor,
        cache: SpanCache | None = None,
        first_block: int | None = None,
        last_block: int | None = None,
    ) -> torch.Tensor:
        """Hidden states (B, T, hidden) after blocks [first_block, last_block), in the span's dtype.

        With a cache, the block range is the cache's, the tokens sit at positions cache.length..+T,
        and the cache grows by T (CacheOverflowError, leaving it unchanged, past max_length). Without
        one, the T tokens are a whole sequence from position 0 and nothing is kept.
        """
        hidden = self._check_input(hidden)
        batch, steps = hidden.shape[:2]
        if cache is None:
            first, last = self._block_range(first_block, last_block)
            past = 0
        else:
            first, last = self._cache_range(cache, first_block, last_block)
            if cache.batch_size != batch:
                raise ValueError(f"hidden has batch {batch} but the cache was opened for {cache.batch_size}")
            cache.check_room(steps)
            past = cache.length
        positions = torch.arange(past, past + steps, device=self.device).unsqueeze(0)
        past_lengths = torch.tensor([past], device=self.device)
        masks = self._masks(first, last, past_lengths, steps, skip_if_exact=True)
        out = self._run(hidden, first, last, positions, masks, cache)
        if cache is not None:
            cache.advance(steps)
        return out

    @torch.inference_mode()
    def forward_batch(self, hidden: torch.Tensor, caches: Sequence[SpanCache]) -> torch.Tensor:
        """One forward for several sessions at different lengths; rows of `hidden` follow `caches` in order.

        Every cache must cover the same block range; each contributes `cache.batch_size` rows and
        every row adds the same T tokens. Results equal one `forward` per cache (up to fp rounding).
        """
        hidden = self._check_input(hidden)
        steps = hidden.shape[1]
        if not caches:
            raise ValueError("forward_batch needs at least one cache")
        first, last = caches[0].first_block, caches[0].last_block
        if any((c.first_block, c.last_block) != (first, last) for c in caches):
            raise ValueError("forward_batch needs caches over the same block range; group sessions by range")
        if sum(c.batch_size for c in caches) != hidden.shape[0]:
            raise ValueError(
                f"hidden has {hidden.shape[0]} rows but the caches hold {sum(c.batch_size for c in caches)}"
            )
        for c in caches:
            self._cache_range(c, None, None)
            c.check_room(steps)
        past_lengths = torch.tensor(
            [c.length for c in caches for _ in range(c.batch_size)], device=self.device
        )
        positions = past_lengths.unsqueeze(1) + torch.arange(steps, device=self.device)
        masks = self._masks(first, last, past_lengths, steps, skip_if_exact=False)
        out = self._run(hidden, first, last, positions, masks, BatchedCaches(caches))
        for c in caches:
            c.advance(steps)
        return out

    __call__ = forward

    @torch.inference_mode()
    def decode_static(self, hidden: torch.Tensor, position: torch.Tensor, cache: SpanCache) -> torch.Tensor:
        """One decode step whose shapes and kernels do not depend on the cache's length: the CUDA-graph form.

        `hidden` (B, 1, hidden) in the span's dtype and device, `position` a (1,) long tensor on the
        device (the cache's length). Keys/values go in with `index_copy_` at `position`, attention
        covers all `max_length` columns with a mask built on the device, and nothing reads a Python
        value that changes between steps, so a captured graph can be replayed for every later step.
        The cache's `length` is not advanced: the caller does that, as for a replayed graph.
        """
        first, last = self._cache_range(cache, None, None)
        positions = position.view(1, 1).expand(hidden.shape[0], 1)
        key_pos = torch.arange(cache.max_length, device=self.device).view(1, 1, 1, -1)
        masks: dict[int | None, torch.Tensor | None] = {}
        for window in {self._windows[b - self.start] for b in range(first, last)}:
            allowed = key_pos <= position
            if window is not None:
                allowed &= key_pos > position - window
            masks[window] = allowed
        return self._run(hidden, first, last, positions, masks, StaticPositionWriter(cache, position))

    def _run(self, hidden, first, last, positions, masks, cache) -> torch.Tensor:
        position_embeddings = self.rotary(hidden, positions)
        for block in range(first, last):
            local = block - self.start
            hidden = self.layers[local](
                hidden,
                attention_mask=masks[self._windows[local]],
                position_embeddings=position_embeddings,
                **{self._cache_kwarg: cache},
            )
        return hidden

    def _masks(
        self, first: int, last: int, past_lengths: torch.Tensor, steps: int, *, skip_if_exact: bool
    ) -> dict[int | None, torch.Tensor | None]:
        """{window: bool mask (B or 1, 1, T, S), True = attend} for the windows of blocks [first, last).

        Row b's queries sit at past_b + i and see columns j ≤ past_b + i (and j > past_b + i − window).
        With `skip_if_exact`, None where sdpa is exact without a mask: one query, or a prefill onto
        an empty cache, and no window cutting anything off.
        """
        max_past = int(past_lengths.max())
        total = max_past + steps
        masks: dict[int | None, torch.Tensor | None] = {}
        for window in {self._windows[b - self.start] for b in range(first, last)}:
            windowed = window is not None and total > window
            if skip_if_exact and not windowed and (steps == 1 or max_past == 0):
                masks[window] = None
                continue
            query_pos = past_lengths.view(-1, 1, 1) + torch.arange(steps, device=self.device).view(1, -1, 1)
            key_pos = torch.arange(total, device=self.device).view(1, 1, -1)
            allowed = key_pos <= query_pos
            if window is not None:
                allowed &= key_pos > query_pos - window
            masks[window] = allowed.unsqueeze(1)
        return masks

    def _check_input(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.dim() != 3 or hidden.shape[-1] != self.info.hidden_size or hidden.shape[1] == 0:
            raise ValueError(
                f"hidden must be (batch, tokens >= 1, {self.info.hidden_size}), got {tuple(hidden.shape)}"
            )
        if not hidden.is_floating_point():
            raise ValueError(f"hidden must be a float tensor, got {hidden.dtype}")
        return hidden.to(device=self.device, dtype=self.dtype)

    def _block_range(self, first: int | None, last: int | None) -> tuple[int, int]:
        first = self.start if first is None else first
        last = self.end if last is None else last
        if not self.start <= first < last <= self.end:
            raise ValueError(f"blocks [{first}, {last}) are not inside this span [{self.start}, {self.end})")
        return first, last

    def _cache_range(self, cache: SpanCache, first: int | None, last: int | None) -> tuple[int, int]:
        if cache.discarded:
            raise ValueError("this cache was discarded")
        cache_range = (cache.first_block, cache.last_block)
        if (first is not None and first != cache.first_block) or (
            last is not None and last != cache.last_block
        ):
            raise ValueError(f"blocks [{first}, {last}) differ from the cache's {list(cache_range)}")
        return self._block_range(*cache_range)
