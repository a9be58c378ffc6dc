"""The node's speed: τ^p at its concurrency, with and without batching, and the on-disk cache."""

from __future__ import annotations

import json

import pytest
import torch

from chainswarm.models.spec import load_model_info
from chainswarm.node.speed import CACHE_FILE, MEASURED_BATCHES, NodeSpeed, node_speed
from tests.tiny_model import write_tiny_llama

# step per block: 2 ms alone, 3 ms for 4 sessions, 6 ms for 16
CURVE = NodeSpeed(1e-4, ((1, 2e-3), (4, 3e-3), (16, 6e-3)))


def test_batched_job_step_follows_the_measured_curve():
    assert CURVE.decode_s_per_step == 2e-3
    assert CURVE.decode_s_per_job_step(1) == pytest.approx(2e-3)
    assert CURVE.decode_s_per_job_step(4) == pytest.approx(3e-3)
    assert CURVE.decode_s_per_job_step(10) == pytest.approx(4.5e-3)  # halfway from 4 to 16
    assert CURVE.decode_s_per_job_step(28) == pytest.approx(9e-3)  # the last slope goes on


def test_without_batching_jobs_take_turns():
    assert CURVE.decode_s_per_job_step(1, batching=False) == pytest.approx(2e-3)
    assert CURVE.decode_s_per_job_step(4, batching=False) == pytest.approx(8e-3)


def test_tau_p_and_throughput_reflect_concurrency():
    alone = CURVE.block_time_s(256, 64)
    batched = CURVE.block_time_s(256, 64, concurrency=4)
    sequential = CURVE.block_time_s(256, 64, concurrency=4, batching=False)
    assert alone < batched < sequential
    assert batched - alone == pytest.approx(63 * 1e-3)
    # c/τ is the real rate: 4 batched sessions make 4 / 3 ms tokens per second per block
    assert CURVE.tokens_per_s(1, 4) == pytest.approx(4 / 3e-3)
    assert CURVE.tokens_per_s(10, 4, batching=False) == pytest.approx(CURVE.tokens_per_s(10, 1))


@pytest.mark.parametrize("curve", [(), ((2, 1e-3),), ((1, 1e-3), (1, 2e-3)), ((1, 1e-3), (8, 2e-3), (4, 3e-3))])
def test_a_curve_must_start_alone_and_rise(curve):
    with pytest.raises(ValueError, match="batch 1"):
        NodeSpeed(1e-4, curve)


def test_measured_once_then_read_from_the_cache(tmp_path):
    info = load_model_info(write_tiny_llama(tmp_path / "m", num_layers=2))
    first = node_speed(info, torch.device("cpu"), torch.float32, tmp_path / "cache")
    assert [b for b, _ in first.decode_batch_s] == list(MEASURED_BATCHES)
    assert first.prefill_s_per_token > 0 and all(t > 0 for _, t in first.decode_batch_s)
    assert node_speed(info, torch.device("cpu"), torch.float32, tmp_path / "cache") == first
    again = node_speed(info, torch.device("cpu"), torch.float32, tmp_path / "cache", remeasure=True)
    assert again != first  # measured anew (timings never repeat to the last bit)


def test_a_corrupt_cache_entry_is_measured_again(tmp_path, caplog):
    info = load_model_info(write_tiny_llama(tmp_path / "m", num_layers=2))
    cache = tmp_path / "cache"
    first = node_speed(info, torch.device("cpu"), torch.float32, cache)
    data = json.loads((cache / CACHE_FILE).read_text())
    (key,) = data
    data[key]["decode_batch_s"] = [[4, 1e-3]]  # no batch-1 figure
    (cache / CACHE_FILE).write_text(json.dumps(data))
    second = node_speed(info, torch.device("cpu"), torch.float32, cache)
    assert "ignoring cached speed" in caplog.text
    assert second != first and [b for b, _ in second.decode_batch_s] == list(MEASURED_BATCHES)


def test_a_noisy_reading_never_makes_a_larger_batch_faster():
    # measured while a neighbour loaded the CPU: 4 sessions "slower" than 16
    noisy = NodeSpeed(1e-4, ((1, 1e-3), (4, 7.9e-3), (16, 4.8e-3), (64, 18.9e-3)))
    steps = [noisy.decode_s_per_job_step(n) for n in range(1, 65)]
    assert steps == sorted(steps)
    assert noisy.decode_s_per_job_step(10) == pytest.approx(7.9e-3)
