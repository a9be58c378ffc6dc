"""The static decode step (the form CUDA graphs capture) equals the ordinary one; graphs replay it on CUDA.

The static form attends over every preallocated column with a mask built from a position tensor
and writes keys/values with index_copy_, so these CPU tests check the very computation a CUDA
graph records. The capture itself needs a GPU: those tests run where one exists.
"""

from __future__ import annotations

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from chainswarm.models.graphs import DecodeGraphs
from chainswarm.models.random_init import random_span
from chainswarm.models.span import BlockSpan
from chainswarm.models.spec import load_model_info
from tests.tiny_model import write_tiny_llama

TOL = 1e-5


def _inputs(seed: int, prompt: int, steps: int, batch: int = 1) -> tuple[torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, prompt, 64, generator=g), [torch.randn(batch, 1, 64, generator=g) for _ in range(steps)]


def _static_steps(span: BlockSpan, cache, steps: list[torch.Tensor]) -> list[torch.Tensor]:
    position = torch.zeros(1, dtype=torch.long)
    outs = []
    for x in steps:
        position.fill_(cache.length)
        outs.append(span.decode_static(x, position, cache))
        cache.advance(1)
    return outs


@pytest.mark.parametrize(("model_type", "window"), [("llama", None), ("mistral", 4)])
@pytest.mark.parametrize("first_block", [0, 2])
def test_static_decode_equals_dynamic_decode(tmp_path, model_type, window, first_block):
    info = load_model_info(write_tiny_llama(tmp_path / "m", num_layers=4, model_type=model_type,
                                            sliding_window=window))
    span = BlockSpan.load(info, 0, 4)
    prompt, steps = _inputs(0, 5, 8, batch=2)
    dynamic = span.new_cache(16, first_block=first_block, batch_size=2)
    static = span.new_cache(16, first_block=first_block, batch_size=2)
    span.forward(prompt, dynamic)
    span.forward(prompt, static)
    want = [span.forward(x, dynamic) for x in steps]
    got = _static_steps(span, static, steps)
    assert static.length == dynamic.length == 13
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)


def test_static_decode_after_a_rollback_ignores_the_forgotten_columns(tmp_path):
    """Replay after failover truncates the cache; the stale columns past it must not be attended."""
    span = random_span(load_model_info(write_tiny_llama(tmp_path / "m", num_layers=2)), 0, 2, seed=1)
    prompt, steps = _inputs(1, 6, 4)
    cache = span.new_cache(16)
    span.forward(prompt, cache)
    first = _static_steps(span, cache, steps)
    cache.truncate(7)  # forget steps 2..4 (their columns still hold keys/values)
    again = _static_steps(span, cache, steps[1:])
    torch.testing.assert_close(again, first[1:], atol=TOL, rtol=0)
    fresh = span.new_cache(16)
    span.forward(prompt, fresh)
    span.forward(steps[0], fresh)
    torch.testing.assert_close(span.forward(steps[1], fresh), again[0], atol=TOL, rtol=0)


def _recorded(fn):
    """`fn` recorded once as a fixed list of ops on fixed tensors, as a CUDA graph records kernels."""
    with torch.inference_mode():
        return make_fx(fn)()


def test_a_recorded_static_step_replays_correctly_at_later_positions(tmp_path):
    """Record the step once (make_fx bakes in every Python value, as a capture does), replay it for
    later steps with new buffer contents: it must still equal the ordinary decode."""
    span = random_span(load_model_info(write_tiny_llama(tmp_path / "m", num_layers=3)), 0, 3, seed=4)
    prompt, steps = _inputs(4, 5, 6)
    ordinary, static = span.new_cache(16), span.new_cache(16)
    span.forward(prompt, ordinary)
    span.forward(prompt, static)
    want = [span.forward(x, ordinary) for x in steps]
    # recording runs the ops for real (as the warm-up before a capture does): with the first step's inputs
    hidden, position = steps[0].clone(), torch.tensor([static.length])
    replay = _recorded(lambda: span.decode_static(hidden, position, static))
    for x, w in zip(steps, want, strict=True):
        hidden.copy_(x)
        position.fill_(static.length)
        torch.testing.assert_close(replay(), w, atol=TOL, rtol=0)
        static.advance(1)

    # the check has teeth: the ordinary step, recorded the same way, keeps its first position
    bad = span.new_cache(16)
    span.forward(prompt, bad)
    hidden.copy_(steps[0])
    replay_ordinary = _recorded(lambda: span.forward(hidden, bad))
    hidden.copy_(steps[1])
    assert (replay_ordinary() - want[1]).abs().max() > 1e-3


def test_graphs_stay_off_on_the_cpu(tmp_path):
    span = random_span(load_model_info(write_tiny_llama(tmp_path / "m", num_layers=2)), 0, 2)
    graphs = DecodeGraphs(span)
    cache = span.new_cache(8)
    span.forward(torch.randn(1, 2, 64), cache)
    assert not graphs.enabled
    assert graphs.step(cache, torch.randn(1, 1, 64)) is None
    assert cache.length == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_cuda_graph_replay_equals_eager_decode(tmp_path, dtype):
    info = load_model_info(write_tiny_llama(tmp_path / "m", num_layers=4))
    span = random_span(info, 0, 4, dtype=dtype, device="cuda", seed=2)
    graphs = DecodeGraphs(span)
    prompt, steps = _inputs(2, 5, 10)
    eager = span.new_cache(32)
    graphed = span.new_cache(32)
    for cache in (eager, graphed):
        span.forward(prompt.to("cuda", dtype), cache)
    tol = TOL if dtype == torch.float32 else 2e-3
    for k, x in enumerate(steps):
        x = x.to("cuda", dtype)
        want = span.forward(x, eager)
        got = graphs.step(graphed, x)
        if k == 0:
            assert got is None  # a session's first decode step runs eagerly
            got = span.forward(x, graphed)
        torch.testing.assert_close(got, want, atol=tol, rtol=0)
    assert graphs.captures == 1 and graphs.replays == len(steps) - 2
    graphed.truncate(7)  # a replayed step rewinds the position the graph writes at
    eager.truncate(7)
    x = steps[2].to("cuda", dtype)
    torch.testing.assert_close(graphs.step(graphed, x), span.forward(x, eager), atol=tol, rtol=0)
    graphed.discard()
    assert graphed.decode_graph is None
