"""Write a tiny random Llama-family model directory for tests: weights, config and a tokenizer.

The model is saved with `save_pretrained` (safetensors, sharded with an index when asked), so tests
exercise the real loaders. The tokenizer is a byte-level BPE trained in milliseconds on a few
sentences, saved with a ChatML chat template, so clients can tokenize and apply chat templates
offline. Everything is deterministic in `seed`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

HIDDEN_SIZE = 64
NUM_HEADS = 4
NUM_KV_HEADS = 2
VOCAB_SIZE = 384  # the tokenizer's 300-odd tokens, rounded up as real vocabularies are
SHARD_BYTES = "200KB"  # about one decoder block per shard at this size
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Hello world, how are you today? I am fine, thank you.",
    "chainswarm serves language models over a swarm of volunteer GPUs.",
    "Each node hosts a contiguous range of transformer blocks and a KV cache.",
]


def write_tiny_llama(
    path: str | Path,
    *,
    num_layers: int = 6,
    sharded: bool = False,
    seed: int = 0,
    tie_word_embeddings: bool = True,
    model_type: str = "llama",
    sliding_window: int | None = None,
) -> Path:
    """Save a random decoder (hidden 64, 4 heads, 2 KV heads) and its tokenizer into `path`.

    `model_type` may be "llama", "mistral" or "qwen2" (same shapes; Qwen2 adds QKV biases);
    `sliding_window` applies to Mistral and Qwen2 only. Returns `path`.
    """
    path = Path(path)
    extra = {}
    if model_type in ("mistral", "qwen2"):
        extra["sliding_window"] = sliding_window
    if model_type == "qwen2" and sliding_window is not None:
        extra |= {"use_sliding_window": True, "max_window_layers": 0}
    config = AutoConfig.for_model(
        model_type,
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN_SIZE,
        intermediate_size=2 * HIDDEN_SIZE,
        num_hidden_layers=num_layers,
        num_attention_heads=NUM_HEADS,
        num_key_value_heads=NUM_KV_HEADS,
        max_position_embeddings=512,
        initializer_range=0.1,  # larger than the usual 0.02 so greedy decoding does not collapse
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        **extra,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path, max_shard_size=SHARD_BYTES if sharded else "10GB")
    _tokenizer().save_pretrained(path)
    return path


def _tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - 32,
        special_tokens=_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
