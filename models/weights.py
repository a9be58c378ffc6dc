"""Named tensors of a model, read one at a time from safetensors or GGUF, under Hugging Face names.

Both sources answer `read(names)` with float tensors in Hugging Face layout, so the loaders of
blocks and of the client front do not care where weights come from. GGUF tensors are dequantized
to float32 and their Q/K rows un-permuted (llama.cpp interleaves the rotary halves; see
reference/transformers-notes.md §6).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import torch
from safetensors import safe_open

from .gguf_file import GgufFile
from .spec import SAFETENSORS_INDEX, ModelInfo, SourceKind, safetensors_files

_GGUF_TOP = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_GGUF_BLOCK = {  # suffix under model.layers.{i}. -> suffix under blk.{i}.
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


class WeightSource(Protocol):
    """Tensors of one model under their Hugging Face names."""

    names: frozenset[str]

    def read(self, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """The named tensors on CPU, in the file's float dtype (GGUF: float32). KeyError if absent."""
        ...


def open_weights(info: ModelInfo) -> WeightSource:
    if info.kind is SourceKind.GGUF:
        return GgufWeights(info)
    return SafetensorsWeights(info.path)


def block_prefix(block: int) -> str:
    return f"model.layers.{block}."


class SafetensorsWeights:
    """A directory's safetensors, single file or sharded; the index (if any) says which file holds what."""

    def __init__(self, path: Path):
        index = path / SAFETENSORS_INDEX
        if index.is_file():
            weight_map = json.loads(index.read_text())["weight_map"]
            self._file_of = {name: path / file for name, file in weight_map.items()}
        else:
            self._file_of = {}
            for file in safetensors_files(path):
                with safe_open(file, framework="pt") as f:
                    self._file_of |= dict.fromkeys(f.keys(), file)
        self.names = frozenset(self._file_of)

    def read(self, names: Iterable[str]) -> dict[str, torch.Tensor]:
        by_file: dict[Path, list[str]] = defaultdict(list)
        for name in names:
            by_file[self._file_of[name]].append(name)
        tensors = {}
        for file, file_names in by_file.items():
            with safe_open(file, framework="pt", device="cpu") as f:
                tensors |= {name: f.get_tensor(name) for name in file_names}
        return tensors


class GgufWeights:
    """A llama GGUF file's tensors, dequantized on read."""

    def __init__(self, info: ModelInfo):
        self._file = GgufFile.open(info.path)
        self._n_heads = int(info.config.num_attention_heads)
        self._n_kv_heads = info.num_kv_heads
        self._gguf_name = {
            hf: gguf for hf, gguf in _gguf_names(info.num_blocks) if gguf in self._file.tensors
        }
        self.names = frozenset(self._gguf_name)

    def read(self, names: Iterable[str]) -> dict[str, torch.Tensor]:
        tensors = {}
        for name in names:
            weight = self._file.read(self._gguf_name[name])
            if name.endswith("self_attn.q_proj.weight"):
                weight = unpermute_rotary_rows(weight, self._n_heads)
            elif name.endswith("self_attn.k_proj.weight"):
                weight = unpermute_rotary_rows(weight, self._n_kv_heads)
            tensors[name] = weight
        return tensors


def unpermute_rotary_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's Q/K row order: per head, even rows are the first rotary half, odd rows the second."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_heads, rows // n_heads // 2, 2, *weight.shape[1:])
        .transpose(1, 2)
        .reshape(weight.shape)
        .contiguous()
    )


def _gguf_names(num_blocks: int) -> Iterable[tuple[str, str]]:
    yield from _GGUF_TOP.items()
    for i in range(num_blocks):
        for hf, gguf in _GGUF_BLOCK.items():
            yield f"{block_prefix(i)}{hf}", f"blk.{i}.{gguf}"
