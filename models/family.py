"""The Llama-family architectures chainswarm serves, and transformers' own classes for each.

Every architecture here has the same decoder block contract: `Layer(config, layer_idx)` with
weights under `model.layers.{i}.`, called as `layer(h, attention_mask=, position_embeddings=,
cache=)`, and a KV cache written through `cache.update(k, v, layer_idx)`. Using transformers'
classes (not a re-implementation) keeps hidden states equal to Hugging Face's bit for bit.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from torch import nn
from transformers import PretrainedConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding
from transformers.models.mistral.modeling_mistral import (
    MistralDecoderLayer,
    MistralRMSNorm,
    MistralRotaryEmbedding,
)
from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer, Qwen2RMSNorm, Qwen2RotaryEmbedding


@dataclass(frozen=True)
class Family:
    """transformers' classes for one `config.model_type`."""

    model_type: str
    layer_cls: type[nn.Module]
    rotary_cls: type[nn.Module]
    norm_cls: type[nn.Module]
    # the layer's keyword for the KV cache: "cache" since transformers 5.24, "past_key_values" before.
    # Passing the wrong one would land in **kwargs and silently disable caching.
    cache_kwarg: str = field(init=False)

    def __post_init__(self) -> None:
        params = inspect.signature(self.layer_cls.forward).parameters
        object.__setattr__(self, "cache_kwarg", "cache" if "cache" in params else "past_key_values")


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("llama", LlamaDecoderLayer, LlamaRotaryEmbedding, LlamaRMSNorm),
        Family("mistral", MistralDecoderLayer, MistralRotaryEmbedding, MistralRMSNorm),
        Family("qwen2", Qwen2DecoderLayer, Qwen2RotaryEmbedding, Qwen2RMSNorm),
    )
}


def family_of(config: PretrainedConfig) -> Family:
    """The family of a config whose `model_type` was already checked by `load_model_info`."""
    return FAMILIES[config.model_type]


def sliding_window(config: PretrainedConfig, block: int) -> int | None:
    """Tokens block `block` attends back over (itself included), or None for full causal attention.

    Mirrors the masks transformers builds: Mistral applies `config.sliding_window` to every layer,
    Qwen2 only to layers whose `layer_types` entry is "sliding_attention"; Llama has none.
    """
    window = getattr(config, "sliding_window", None)
    if window is None or config.model_type == "llama":
        return None
    layer_types = getattr(config, "layer_types", None)
    if config.model_type == "qwen2" and layer_types is not None and layer_types[block] != "sliding_attention":
        return None
    return int(window)
