"""Single-process Hugging Face eager baseline: greedy decode of the whole model in one process.

A manual loop (one forward per token with a DynamicCache, argmax, one device sync per step, as
``generate`` does) gives ms per decode step at batch 1 and decode tokens/s at larger batches;
``model.generate`` is timed too, as a user would call it. Run in its own process by
``bench/gpu_swarm.py`` so its GPU memory is gone before the swarm starts.

    python bench/gpu/hf_eager.py --model DIR --json FILE [--device cuda] [--batches 1,8,32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch
from random_llama import prompt_ids
from transformers import AutoModelForCausalLM, DynamicCache, PreTrainedModel

WARMUP_STEPS = 4
# transformers 5.24 renames past_key_values to cache; the image's 5.17 knows only the old name.
warnings.filterwarnings("ignore", message=".*past_key_values.*deprecated")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def decode(model: PreTrainedModel, ids: torch.Tensor, steps: int) -> tuple[list[float], list[int]]:
    """Prefill ``ids`` (B, T), then ``steps`` greedy single-token steps; seconds per step and the
    tokens of row 0 (the first from the prefill)."""
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids, past_key_values=cache, use_cache=True)
    token = out.logits[:, -1].argmax(-1, keepdim=True)
    tokens = [int(token[0])]
    step_s = []
    for _ in range(steps):
        began = time.perf_counter()
        out = model(input_ids=token, past_key_values=cache, use_cache=True)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        tokens.append(int(token[0]))  # the device sync a real decode loop has
        step_s.append(time.perf_counter() - began)
    return step_s, tokens


@torch.inference_mode()
def generate_s(model: PreTrainedModel, ids: torch.Tensor, new_tokens: int) -> float:
    began = time.perf_counter()
    model.generate(ids, max_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    sync(model.device)
    return time.perf_counter() - began


def batch_figures(step_s: list[float], batch: int) -> dict[str, float]:
    ms = sorted(s * 1e3 for s in step_s)
    return {"ms_per_step_p50": statistics.median(ms), "ms_per_step_p90": ms[int(0.9 * (len(ms) - 1))],
            "tokens_per_s": batch * len(step_s) / sum(step_s)}


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    began = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=getattr(torch, args.dtype),
                                                 device_map=str(device)).eval()
    load_s = time.perf_counter() - began
    vocab = model.config.vocab_size
    result: dict = {"device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "load_s": load_s, "attn_implementation": model.config._attn_implementation,
                    "dtype": args.dtype, "batches": {}}
    for batch in args.batches:
        ids = prompt_ids(vocab, batch, args.prompt_tokens).to(device)
        decode(model, ids, WARMUP_STEPS)
        step_s, tokens = decode(model, ids, args.tokens)
        result["batches"][str(batch)] = batch_figures(step_s, batch)
        if batch == 1:
            result["greedy_tokens"] = tokens
        print(f"hf eager batch {batch}: {result['batches'][str(batch)]}", flush=True)
    ids = prompt_ids(vocab, 1, args.prompt_tokens).to(device)
    generate_s(model, ids, 2)
    one, many = generate_s(model, ids, 1), generate_s(model, ids, args.tokens + 1)
    result["generate_ms_per_token"] = (many - one) / args.tokens * 1e3
    if device.type == "cuda":
        result["max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64, help="decode steps timed per batch size")
    args = parser.parse_args()
    args.json.write_text(json.dumps(run(args), indent=1))


if __name__ == "__main__":
    main()
