"""BlockSpan and SpanCache against the whole Hugging Face model run the same way (prefill, then steps)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from chainswarm.models.random_init import random_span
from chainswarm.models.span import BlockSpan, CacheOverflowError
from chainswarm.models.spec import load_model_info
from tests.models.hf_reference import run_greedy
from tests.tiny_model import write_tiny_llama

TOL = 1e-5


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.fixture(scope="module")
def span(tiny_info) -> BlockSpan:
    return BlockSpan.load(tiny_info, 2, 5)


@pytest.fixture(scope="module")
def reference(tiny_hf):
    """7-token prompt, then 10 greedy steps."""
    prompt = torch.randint(3, 300, (1, 7), generator=torch.Generator().manual_seed(0))
    return run_greedy(tiny_hf, prompt, steps=10)


def test_prefill_and_decode_equal_the_full_model(span, reference):
    cache = span.new_cache(32)
    for states in reference.hidden_states:
        out = span.forward(states[2], cache)
        assert max_diff(out, states[5]) <= TOL
    assert cache.length == 7 + 10


def test_chunked_prefill_equals_one_shot(span, reference):
    prompt_states = reference.hidden_states[0]
    cache = span.new_cache(32)
    first = span.forward(prompt_states[2][:, :4], cache)
    second = span.forward(prompt_states[2][:, 4:], cache)
    assert cache.length == 7
    assert max_diff(torch.cat([first, second], 1), prompt_states[5]) <= TOL
    step_states = reference.hidden_states[1]
    assert max_diff(span.forward(step_states[2], cache), step_states[5]) <= TOL


def test_tail_of_the_span(span, reference):
    cache = span.new_cache(32, first_block=3)
    assert (cache.first_block, cache.last_block) == (3, 5)
    for states in reference.hidden_states[:4]:
        assert max_diff(span.forward(states[3], cache), states[5]) <= TOL


def test_head_of_the_span_without_cache(span, reference):
    states = reference.hidden_states[0]
    assert max_diff(span.forward(states[2], first_block=2, last_block=4), states[4]) <= TOL


def test_cache_holds_only_the_blocks_it_was_opened_for(span, tiny_info):
    from chainswarm.models.spec import cache_bytes

    cache = span.new_cache(20, first_block=3, batch_size=2)
    assert cache.nbytes == 2 * 2 * cache_bytes(tiny_info, span.dtype, 20)
    with pytest.raises(IndexError):
        cache.block_kv(2)


def test_overflow_is_refused_and_leaves_the_cache_usable(span, reference):
    states = reference.hidden_states
    cache = span.new_cache(8)
    span.forward(states[0][2], cache)
    span.forward(states[1][2], cache)
    with pytest.raises(CacheOverflowError, match="max_length 8"):
        span.forward(states[2][2], cache)
    assert cache.length == 8
    cache.truncate(7)
    assert max_diff(span.forward(states[1][2], cache), states[1][5]) <= TOL


def test_truncate_replays_a_step(span, reference):
    states = reference.hidden_states
    cache = span.new_cache(16)
    span.forward(states[0][2], cache)
    span.forward(states[1][2], cache)
    cache.truncate(7)
    assert max_diff(span.forward(states[1][2], cache), states[1][5]) <= TOL
    with pytest.raises(ValueError, match="truncate"):
        cache.truncate(9)


def test_discarded_cache_frees_memory_and_refuses_use(span, reference):
    cache = span.new_cache(16)
    cache.discard()
    assert cache.nbytes == 0 and cache.discarded
    with pytest.raises(ValueError, match="discarded"):
        span.forward(reference.hidden_states[0][2], cache)


def test_bad_inputs_are_rejected(span, reference):
    h = reference.hidden_states[0][2]
    with pytest.raises(ValueError, match="hidden must be"):
        span.forward(h[..., :10])
    with pytest.raises(ValueError, match="float"):
        span.forward(h.long())
    with pytest.raises(ValueError, match="not inside this span"):
        span.forward(h, first_block=1)
    cache = span.new_cache(16, first_block=3)
    with pytest.raises(ValueError, match="differ from the cache"):
        span.forward(h, cache, first_block=2)
    with pytest.raises(ValueError, match="batch"):
        span.forward(torch.cat([h, h]), cache)


def test_batched_rows_at_different_lengths_equal_unbatched(span):
    gen = torch.Generator().manual_seed(1)
    prompt_lengths = [5, 8, 2]
    solo = [span.new_cache(16) for _ in prompt_lengths]
    batched = [span.new_cache(16) for _ in prompt_lengths]
    for n, a, b in zip(prompt_lengths, solo, batched, strict=True):
        prompt = torch.randn(1, n, 64, generator=gen)
        span.forward(prompt, a)
        span.forward(prompt, b)
    for steps in (1, 1, 2, 1):  # decode steps and a 2-token chunk
        hidden = torch.randn(3, steps, 64, generator=gen)
        expected = torch.cat([span.forward(hidden[i : i + 1], c) for i, c in enumerate(solo)])
        assert max_diff(span.forward_batch(hidden, batched), expected) <= TOL
    assert [c.length for c in batched] == [c.length for c in solo]


def test_batch_needs_one_block_range(span):
    caches = [span.new_cache(8), span.new_cache(8, first_block=3)]
    with pytest.raises(ValueError, match="same block range"):
        span.forward_batch(torch.zeros(2, 1, 64), caches)


@pytest.mark.parametrize("model_type", ["mistral", "qwen2"])
def test_sliding_window_families_equal_the_full_model(tmp_path, model_type):
    path = write_tiny_llama(tmp_path / model_type, num_layers=4, model_type=model_type, sliding_window=4)
    reference = run_greedy(
        AutoModelForCausalLM.from_pretrained(path).eval(), torch.arange(3, 10).unsqueeze(0), steps=5
    )
    span = BlockSpan.load(load_model_info(path), 1, 3)
    cache = span.new_cache(16)
    prompt = reference.hidden_states[0]
    assert max_diff(span.forward(prompt[1]), prompt[3]) <= TOL
    span.forward(prompt[1][:, :3], cache)
    span.forward(prompt[1][:, 3:], cache)
    for states in reference.hidden_states[1:]:
        assert max_diff(span.forward(states[1], cache), states[3]) <= TOL


def test_random_span_has_the_real_shape(tiny_info, span):
    rand = random_span(tiny_info, 2, 5, seed=3)
    assert [p.shape for p in rand.layers[0].parameters()] == [p.shape for p in span.layers[0].parameters()]
    hidden = torch.randn(1, 4, 64)
    out = rand.forward(hidden, rand.new_cache(8))
    assert out.shape == hidden.shape and torch.isfinite(out).all()
    assert torch.equal(out, random_span(tiny_info, 2, 5, seed=3).forward(hidden))
    assert not torch.equal(out, random_span(tiny_info, 2, 5, seed=4).forward(hidden))


def test_bfloat16_span_tracks_float32(tiny_info, span, reference):
    half = BlockSpan.load(tiny_info, 2, 5, dtype=torch.bfloat16)
    cache = half.new_cache(16)
    assert cache.nbytes == span.new_cache(16).nbytes // 2
    for states in reference.hidden_states[:3]:
        out = half.forward(states[2], cache)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), states[5], rtol=0.05, atol=0.05)
