"""Llama-family models for chainswarm: block spans a node serves, and the client's front.

info = load_model_info("path/to/model-dir-or-file.gguf")
span = BlockSpan.load(info, 10, 20, dtype=torch.float16, device="cuda")   # node
cache = span.new_cache(max_length=2048, first_block=12)                  # one session
hidden = span.forward(hidden, cache)
front = ModelFront.load(info); tokenizer = load_tokenizer(info)          # client
"""

from .cache import CacheOverflowError, SpanCache
from .front import ModelFront, load_tokenizer
from .random_init import random_block, random_span
from .span import BlockSpan
from .spec import ModelError, ModelInfo, SourceKind, block_bytes, cache_bytes, load_model_info, parse_dtype
from .speed import BlockSpeed, measure_block_speed

__all__ = [
    "BlockSpan",
    "BlockSpeed",
    "CacheOverflowError",
    "ModelError",
    "ModelFront",
    "ModelInfo",
    "SourceKind",
    "SpanCache",
    "block_bytes",
    "cache_bytes",
    "load_model_info",
    "load_tokenizer",
    "measure_block_speed",
    "parse_dtype",
    "random_block",
    "random_span",
]
