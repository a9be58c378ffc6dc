"""A session's decode step replayed as one CUDA graph instead of a launch per kernel.

Eager decode on a GPU is launch-bound: one decoder layer's step costs about 0.85 ms whatever the
layer's size (reference/gpu-notes.md), while the weights alone would take a few microseconds to
read. `BlockSpan.decode_static` is written so that a step's shapes, addresses and kernels do not
change from one step to the next (the cache is preallocated at max_length; the position lives in a
device tensor), so it is captured once per session and replayed for every later step.

Only single-session steps are captured. A batched round already shares its launches among its rows,
and the set of sessions in a round changes from round to round, which would mean a capture per
round. On the CPU there is nothing to capture and the executor never builds a `DecodeGraph`.
"""

from __future__ import annotations

import logging
import weakref

import torch

from .cache import SpanCache
from .span import BlockSpan

logger = logging.getLogger(__name__)


class DecodeGraph:
    """The decode step of one session (all its rows at one position), captured on its second step.

    The first call runs `decode_static` eagerly on a side stream (the warm-up CUDA graphs need, and
    this step's real result), then captures the same call; later calls copy their input into the
    static buffers and replay. Shares `pool` (a `torch.cuda.graph_pool_handle()`) with the span's
    other graphs: they never run at once, since a node computes on one thread.
    """

    def __init__(self, span: BlockSpan, cache: SpanCache, pool: object | None = None):
        self.span = span
        self.cache = cache
        self._pool = pool
        self._hidden = torch.zeros(cache.batch_size, 1, span.info.hidden_size, dtype=span.dtype, device=span.device)
        self._position = torch.zeros(1, dtype=torch.long, device=span.device)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._output: torch.Tensor | None = None

    @property
    def captured(self) -> bool:
        return self._graph is not None

    @torch.inference_mode()
    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """The step's output (B, 1, hidden) for tokens at position `cache.length`; advances the cache."""
        self.cache.check_room(1)
        self._hidden.copy_(hidden)
        self._position.fill_(self.cache.length)
        if self._graph is None:
            out = self._capture()
        else:
            self._graph.replay()
            out = self._output.clone()
        self.cache.advance(1)
        return out

    def _capture(self) -> torch.Tensor:
        side = torch.cuda.Stream(self.span.device)
        side.wait_stream(torch.cuda.current_stream(self.span.device))
        with torch.cuda.stream(side):
            out = self.span.decode_static(self._hidden, self._position, self.cache)
        torch.cuda.current_stream(self.span.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # Capture records kernels without running them: the cache is written once, by the warm-up.
        with torch.cuda.graph(graph, pool=self._pool):
            self._output = self.span.decode_static(self._hidden, self._position, self.cache)
        self._graph = graph
        return out


class DecodeGraphs:
    """Decode graphs of one span's sessions, or nothing at all where CUDA graphs cannot run.

    `step` returns None when the caller should run the step eagerly: not on CUDA, the session's
    first decode step (no graph captured for sessions that decode once), or a capture that failed
    (logged once; the span then stays eager, as the issue's fallback rule asks).
    """

    def __init__(self, span: BlockSpan, enabled: bool = True):
        self.span = span
        self.enabled = enabled and span.device.type == "cuda"
        self._pool = torch.cuda.graph_pool_handle() if self.enabled else None
        self._decoded_once: weakref.WeakSet[SpanCache] = weakref.WeakSet()
        self.captures = 0
        self.replays = 0

    def step(self, cache: SpanCache, hidden: torch.Tensor) -> torch.Tensor | None:
        """Run one decode step of `cache`'s session through its graph, capturing it if due; None = run eagerly."""
        if not self.enabled:
            return None
        graph = cache.decode_graph
        if graph is None:
            if cache not in self._decoded_once:
                self._decoded_once.add(cache)
                return None
            graph = DecodeGraph(self.span, cache, self._pool)
            try:
                out = graph(hidden)
            except Exception as e:  # e.g. a rotary variant that reads a device value back to Python
                logger.warning("CUDA graph capture failed (%r); decoding eagerly from now on", e)
                self.enabled = False
                return None
            cache.decode_graph = graph
            self.captures += 1
            return out
        self.replays += 1
        return graph(hidden)
