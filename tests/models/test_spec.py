"""Model info, swarm constants (s_m, s_c) and the errors a user sees for unusable model paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from chainswarm.models.loader import load_blocks
from chainswarm.models.spec import (
    ModelError,
    SourceKind,
    block_bytes,
    cache_bytes,
    load_model_info,
    parse_dtype,
)
from tests.tiny_model import write_tiny_llama


def test_info_of_a_sharded_directory(tiny_dir, tiny_info):
    assert tiny_info.kind is SourceKind.SAFETENSORS
    assert (tiny_dir / "model.safetensors.index.json").is_file()
    shape = (tiny_info.num_blocks, tiny_info.hidden_size, tiny_info.num_kv_heads, tiny_info.head_dim)
    assert shape == (6, 64, 2, 16)
    assert tiny_info.config._attn_implementation == "sdpa"
    assert tiny_info.model_id.startswith("tiny-llama@")


def test_model_id_is_stable_and_tells_weights_apart(tmp_path, tiny_dir, tiny_info):
    assert load_model_info(tiny_dir).model_id == tiny_info.model_id
    copy = shutil.copytree(tiny_dir, tmp_path / "elsewhere" / tiny_dir.name)
    assert load_model_info(copy).model_id == tiny_info.model_id
    other_seed = write_tiny_llama(tmp_path / tiny_dir.name, sharded=True, seed=7)
    assert load_model_info(other_seed).model_id != tiny_info.model_id
    assert load_model_info(tiny_dir, model_id="org/name").model_id == "org/name"


def test_hub_snapshot_is_named_after_its_repo(tmp_path, tiny_dir):
    snapshot = shutil.copytree(tiny_dir, tmp_path / "models--org--tiny" / "snapshots" / "abc123")
    assert load_model_info(snapshot).model_id.startswith("org/tiny@")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_block_bytes_is_the_parameter_bytes_of_a_loaded_block(tiny_info, dtype):
    (layer,) = load_blocks(tiny_info, 3, 4, dtype=dtype)
    params = sum(p.numel() * p.element_size() for p in layer.parameters())
    assert block_bytes(tiny_info, dtype) == params
    assert block_bytes(tiny_info, str(dtype).removeprefix("torch.")) == params


def test_block_bytes_counts_qwen2_biases(tmp_path):
    llama = load_model_info(write_tiny_llama(tmp_path / "l", num_layers=2))
    qwen = load_model_info(write_tiny_llama(tmp_path / "q", num_layers=2, model_type="qwen2"))
    kv = qwen.num_kv_heads * qwen.head_dim
    assert block_bytes(qwen, "fp32") - block_bytes(llama, "fp32") == (qwen.hidden_size + 2 * kv) * 4


def test_cache_bytes_is_k_and_v_of_one_sequence(tiny_info):
    assert cache_bytes(tiny_info, torch.float16, 100) == 2 * 2 * 16 * 100 * 2
    assert cache_bytes(tiny_info, "fp32", 1) * 1000 == cache_bytes(tiny_info, "fp32", 1000)


def test_parse_dtype():
    assert parse_dtype("bf16") is torch.bfloat16
    assert parse_dtype(torch.float16) is torch.float16
    with pytest.raises(ModelError, match="unknown dtype"):
        parse_dtype("int3")


def test_missing_path_says_what_to_pass(tmp_path):
    with pytest.raises(ModelError, match="does not exist.*config.json.*gguf"):
        load_model_info(tmp_path / "nope")


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        load_model_info(tmp_path)


def test_directory_without_safetensors_mentions_conversion(tmp_path, tiny_dir):
    shutil.copy(tiny_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelError, match="no \\*.safetensors"):
        load_model_info(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ModelError, match="pytorch_model.bin: convert them to safetensors"):
        load_model_info(tmp_path)


def test_missing_shard_is_named(tmp_path, tiny_dir):
    copy = shutil.copytree(tiny_dir, tmp_path / "m")
    next(copy.glob("model-00002-*.safetensors")).unlink()
    with pytest.raises(ModelError, match="is missing model-00002"):
        load_model_info(copy)


def test_unsupported_architecture(tmp_path, tiny_dir):
    copy = shutil.copytree(tiny_dir, tmp_path / "m")
    config = json.loads((copy / "config.json").read_text()) | {"model_type": "gpt2"}
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="model_type 'gpt2' is not supported.*llama"):
        load_model_info(copy)


def test_file_that_is_not_gguf(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="not a .gguf file"):
        load_model_info(tmp_path / "model.bin")
    (tmp_path / "fake.gguf").write_bytes(b"NOPE" + bytes(32))
    with pytest.raises(ModelError, match="magic"):
        load_model_info(tmp_path / "fake.gguf")


def test_block_range_outside_the_model(tiny_info):
    with pytest.raises(ModelError, match="not inside \\[0, 6\\)"):
        load_blocks(tiny_info, 4, 7)


def test_other_families_are_read(tmp_path: Path):
    for model_type in ("mistral", "qwen2"):
        info = load_model_info(write_tiny_llama(tmp_path / model_type, num_layers=2, model_type=model_type))
        assert info.config.model_type == model_type and info.num_blocks == 2
