"""Write a Llama model of a real shape with random weights (fp16 safetensors) and a tokenizer.

The CUDA test machine cannot download models, so speed is measured on random weights of the real
shape. Weights are initialised directly on the target device in the target dtype (a 7B model in
fp32 on the CPU would take 28 GB and minutes). The tokenizer is a word-level one, one word ``wN``
per id, so any generated id decodes and a prompt of ids round-trips through text. The config has
no end-of-sequence token, so every generation runs to ``max_new_tokens``.

    python bench/gpu/random_llama.py --shape llama2-7b --out DIR [--device cuda] [--layers N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

SHAPES: dict[str, dict[str, int]] = {
    "llama2-7b": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
                  "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                  "max_position_embeddings": 4096},
    "tiny": {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 6,
             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024},
}
SHARD_SIZE = "2GB"  # several shards, so nodes open only the files that hold their blocks


def llama_config(shape: str, layers: int | None = None) -> LlamaConfig:
    fields = dict(SHAPES[shape])
    if layers is not None:
        fields["num_hidden_layers"] = layers
    return LlamaConfig(**fields, rms_norm_eps=1e-5, tie_word_embeddings=False, initializer_range=0.02,
                       bos_token_id=None, eos_token_id=None, pad_token_id=0)


def word_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """Ids 0..vocab_size-1 as the words w0, w1, ... split on whitespace; no special tokens, so
    every id decodes to a non-empty word (one streamed text piece per generated token)."""
    tok = Tokenizer(models.WordLevel({f"w{i}": i for i in range(vocab_size)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def prompt_ids(vocab_size: int, batch: int, tokens: int, seed: int = 0) -> torch.Tensor:
    """(batch, tokens) random token ids; row 0 is the same whatever ``batch``, so the baseline and
    the swarm decode the same prompt at batch 1."""
    return torch.randint(0, vocab_size, (batch, tokens), generator=torch.Generator().manual_seed(seed))


def write_random_llama(path: Path, shape: str, *, device: str = "cpu", dtype: torch.dtype = torch.float16,
                       layers: int | None = None, seed: int = 0) -> Path:
    """Save a random ``shape`` Llama in ``dtype`` (initialised on ``device``) and its tokenizer."""
    config = llama_config(shape, layers)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(path, max_shard_size=SHARD_SIZE)
    word_tokenizer(config.vocab_size).save_pretrained(path)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--out", type=Path, required=True, help="model directory to write")
    parser.add_argument("--device", default="cpu", help="where to initialise the weights (cuda is fastest)")
    parser.add_argument("--layers", type=int, help="override the shape's number of decoder blocks")
    args = parser.parse_args()
    began = time.perf_counter()
    write_random_llama(args.out, args.shape, device=args.device, layers=args.layers)
    size_bytes = sum(f.stat().st_size for f in args.out.glob("*.safetensors"))
    print(f"wrote {args.shape} ({size_bytes / 1e9:.2f} GB) to {args.out} in {time.perf_counter() - began:.1f} s",
          flush=True)


if __name__ == "__main__":
    main()
