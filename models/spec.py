"""What a model is, read from its files without loading weights: config, block count, and sizes.

`load_model_info` accepts a local Hugging Face directory (config.json plus safetensors, one file or
sharded with `model.safetensors.index.json`) or a `.gguf` file. `block_bytes` and `cache_bytes` are
the paper's s_m and s_c (DESIGN.md, "The model of the paper"): every node derives them from the
config alone, so nodes with the same files agree on the swarm constants.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import torch
from transformers import AutoConfig, LlamaConfig, PretrainedConfig

from .family import FAMILIES, family_of
from .gguf_file import GgufFile

SAFETENSORS_INDEX = "model.safetensors.index.json"
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
_SAMPLE_BYTES = 1 << 16  # read from each end of each weight file for model_id
_ID_FIELDS = (  # the config fields that define a model's computation, hashed into model_id
    "model_type",
    "num_hidden_layers",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "rms_norm_eps",
    "rope_parameters",
    "tie_word_embeddings",
    "sliding_window",
    "attention_bias",
    "mlp_bias",
)


class ModelError(Exception):
    """A model that cannot be served as given; the message says what to do instead."""


class SourceKind(StrEnum):
    SAFETENSORS = "safetensors"
    GGUF = "gguf"


@dataclass(frozen=True)
class ModelInfo:
    """A model's identity and shape. `path` is the directory (safetensors) or the .gguf file."""

    path: Path
    kind: SourceKind
    config: PretrainedConfig  # transformers config, `_attn_implementation == "sdpa"`
    model_id: str  # same on every node that holds the same files, whatever their local path

    @property
    def num_blocks(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.config.hidden_size)

    @property
    def head_dim(self) -> int:
        return int(
            getattr(self.config, "head_dim", None) or self.hidden_size // self.config.num_attention_heads
        )

    @property
    def num_kv_heads(self) -> int:
        return int(self.config.num_key_value_heads)


def load_model_info(path: str | Path, *, model_id: str | None = None) -> ModelInfo:
    """Read a model's config (no weights). `model_id` overrides the derived id (e.g. a hub repo id)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(
            f"model path {path} does not exist; pass a local Hugging Face directory "
            "(config.json + *.safetensors) or a .gguf file"
        )
    if path.is_dir():
        config, weight_files = _read_safetensors_dir(path)
        kind = SourceKind.SAFETENSORS
    elif path.suffix == ".gguf":
        config, weight_files = _read_gguf(path), [path]
        kind = SourceKind.GGUF
    else:
        raise ModelError(f"{path} is a file but not a .gguf file; pass a .gguf file or a model directory")
    config._attn_implementation = "sdpa"
    return ModelInfo(path, kind, config, model_id or _derive_model_id(path, kind, config, weight_files))


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """`"bf16"`, `"float32"`, ... or a torch dtype, as a torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(_DTYPES))}")
    return _DTYPES[dtype]


def block_bytes(info: ModelInfo, dtype: str | torch.dtype) -> int:
    """s_m: parameter bytes of one decoder block in `dtype` (counted on a meta-device block)."""
    with torch.device("meta"):
        layer = family_of(info.config).layer_cls(info.config, 0)
    return sum(p.numel() for p in layer.parameters()) * parse_dtype(dtype).itemsize


def cache_bytes(info: ModelInfo, dtype: str | torch.dtype, max_length: int) -> int:
    """s_c: K and V bytes of one sequence of `max_length` tokens in one block."""
    return 2 * info.num_kv_heads * info.head_dim * max_length * parse_dtype(dtype).itemsize


def safetensors_files(path: Path) -> list[Path]:
    """The weight files of a model directory: those of the index if there is one, else all *.safetensors."""
    index = path / SAFETENSORS_INDEX
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return sorted({path / name for name in weight_map.values()})
    return sorted(path.glob("*.safetensors"))


def _read_safetensors_dir(path: Path) -> tuple[PretrainedConfig, list[Path]]:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelError(f"{path} has no config.json; pass a Hugging Face model directory or a .gguf file")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except json.JSONDecodeError as e:
        raise ModelError(f"{config_file} is not valid JSON ({e}); re-download the model") from e
    _check_supported(model_type, str(config_file))
    files = safetensors_files(path)
    missing = [f.name for f in files if not f.is_file()]
    if not files or missing:
        found = sorted(p.name for p in path.iterdir() if p.suffix in {".bin", ".pt", ".pth"})
        hint = f" (found {', '.join(found)}: convert them to safetensors)" if found else ""
        what = f"is missing {', '.join(missing)}" if missing else "has no *.safetensors weights"
        raise ModelError(f"{path} {what}{hint}")
    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    return config, files


def _read_gguf(path: Path) -> PretrainedConfig:
    try:
        gguf = GgufFile.open(path)
    except (ValueError, ImportError) as e:
        raise ModelError(f"cannot read {path}: {e}") from e
    meta = gguf.metadata
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ModelError(
            f"{path} has GGUF architecture {arch!r}; chainswarm reads only 'llama' GGUF files "
            "(for other families use a Hugging Face safetensors directory)"
        )
    scaling = meta.get("llama.rope.scaling.type", "none")
    if scaling != "none" or "rope_freqs.weight" in gguf.tensors:
        raise ModelError(
            f"{path} uses RoPE scaling ({scaling}), which chainswarm's GGUF reader does not support; "
            "use the model's Hugging Face safetensors directory instead"
        )

    def key(name: str):
        return meta[f"llama.{name}"]

    heads = key("attention.head_count")
    config = LlamaConfig(
        vocab_size=meta.get("llama.vocab_size", meta.get("tokenizer.ggml.tokens")),
        hidden_size=key("embedding_length"),
        intermediate_size=key("feed_forward_length"),
        num_hidden_layers=key("block_count"),
        num_attention_heads=heads,
        num_key_value_heads=meta.get("llama.attention.head_count_kv", heads),
        head_dim=meta.get("llama.attention.key_length", key("embedding_length") // heads),
        max_position_embeddings=key("context_length"),
        rms_norm_eps=key("attention.layer_norm_rms_epsilon"),
        rope_parameters={"rope_type": "default", "rope_theta": meta.get("llama.rope.freq_base", 10000.0)},
        tie_word_embeddings="output.weight" not in gguf.tensors,
        bos_token_id=meta.get("tokenizer.ggml.bos_token_id"),
        eos_token_id=meta.get("tokenizer.ggml.eos_token_id"),
        pad_token_id=meta.get("tokenizer.ggml.padding_token_id"),
    )
    return config


def _check_supported(model_type: str | None, where: str) -> None:
    if model_type not in FAMILIES:
        raise ModelError(
            f"{where}: model_type {model_type!r} is not supported; chainswarm serves "
            f"{', '.join(sorted(FAMILIES))} decoders"
        )


def _derive_model_id(path: Path, kind: SourceKind, config: PretrainedConfig, files: list[Path]) -> str:
    """`name@digest`: the name from the path, the digest from the config and a sample of the weights.

    A Hugging Face cache snapshot (`models--org--name/snapshots/<sha>`) is named `org/name`. The
    sample (each weight file's size and its first and last `_SAMPLE_BYTES`) tells fine-tunes and
    quantizations of one architecture apart without reading gigabytes.
    """
    if kind is SourceKind.GGUF:
        name = path.stem
    elif path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        name = path.parent.parent.name.removeprefix("models--").replace("--", "/")
    else:
        name = path.name
    digest = hashlib.sha256()
    fields = {f: getattr(config, f, None) for f in _ID_FIELDS}
    digest.update(json.dumps([str(kind), fields], sort_keys=True, default=str).encode())
    for file in files:
        size = file.stat().st_size
        digest.update(size.to_bytes(8, "little"))
        with file.open("rb") as f:
            digest.update(f.read(_SAMPLE_BYTES))
            f.seek(max(0, size - _SAMPLE_BYTES))
            digest.update(f.read(_SAMPLE_BYTES))
    return f"{name}@{digest.hexdigest()[:12]}"
