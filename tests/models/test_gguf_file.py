"""The GGUF reader and GGUF block loading, on small files written here with gguf's own writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter, dequantize, quantize
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from chainswarm.models.front import ModelFront
from chainswarm.models.gguf_file import GgufFile
from chainswarm.models.span import BlockSpan
from chainswarm.models.spec import ModelError, load_model_info
from tests.models.hf_reference import run_greedy

Q = GGMLQuantizationType
GGUF_NAMES = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf permute of Q/K rows (rotate-half → interleaved pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama_gguf(hf_dir: Path, path: Path, *, arch: str = "llama", extra_kv: dict | None = None) -> Path:
    """The tiny HF model as a float32 llama GGUF, the way llama.cpp converts it."""
    cfg = json.loads((hf_dir / "config.json").read_text())
    writer = GGUFWriter(path, arch)
    for key, value in {
        "block_count": cfg["num_hidden_layers"],
        "context_length": cfg["max_position_embeddings"],
        "embedding_length": cfg["hidden_size"],
        "feed_forward_length": cfg["intermediate_size"],
        "attention.head_count": cfg["num_attention_heads"],
        "attention.head_count_kv": cfg["num_key_value_heads"],
        "vocab_size": cfg["vocab_size"],
    }.items():
        writer.add_uint32(f"{arch}.{key}", value)
    writer.add_float32(f"{arch}.rope.freq_base", cfg["rope_parameters"]["rope_theta"])
    writer.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", cfg["rms_norm_eps"])
    writer.add_uint32("tokenizer.ggml.bos_token_id", cfg["bos_token_id"])
    writer.add_uint32("tokenizer.ggml.eos_token_id", cfg["eos_token_id"])
    for key, value in (extra_kv or {}).items():
        writer.add_string(key, value)
    state = load_file(next(hf_dir.glob("*.safetensors")))
    for name, tensor in state.items():
        w = tensor.numpy()
        if name == "model.embed_tokens.weight":
            gguf_name = "token_embd.weight"
        elif name == "model.norm.weight":
            gguf_name = "output_norm.weight"
        elif name == "lm_head.weight":
            gguf_name = "output.weight"
        else:
            _, _, block, rest = name.split(".", 3)
            module = rest.removesuffix(".weight")
            gguf_name = f"blk.{block}.{GGUF_NAMES[module]}.weight"
            if module == "self_attn.q_proj":
                w = llama_cpp_permute(w, cfg["num_attention_heads"])
            elif module == "self_attn.k_proj":
                w = llama_cpp_permute(w, cfg["num_key_value_heads"])
        writer.add_tensor(gguf_name, np.ascontiguousarray(w))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, untied_dir) -> Path:
    """The untied tiny model (one safetensors file) as a float32 GGUF with an `output.weight`."""
    return write_llama_gguf(untied_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_reader_equals_gguf_reader(tmp_path):
    path = tmp_path / "mixed.gguf"
    writer = GGUFWriter(path, "llama")
    writer.add_string("general.name", "mixed")
    writer.add_uint32("llama.block_count", 3)
    writer.add_float32("llama.rope.freq_base", 5e5)
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc"])
    writer.add_array("tokenizer.ggml.token_type", [1, 2, 3])
    rng = np.random.default_rng(0)
    data = {name: rng.standard_normal((8, 64)).astype(np.float32) for name in ("f32", "f16", "q8", "q41")}
    writer.add_tensor("f32", data["f32"])
    writer.add_tensor("f16", data["f16"].astype(np.float16))
    writer.add_tensor("q8", quantize(data["q8"], Q.Q8_0), raw_dtype=Q.Q8_0)
    writer.add_tensor("q41", quantize(data["q41"], Q.Q4_1), raw_dtype=Q.Q4_1)
    writer.add_tensor("vec", data["f32"][0])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    ours = GgufFile.open(path)
    assert ours.metadata["general.name"] == "mixed"
    assert ours.metadata["llama.block_count"] == 3
    assert ours.metadata["llama.rope.freq_base"] == pytest.approx(5e5)
    assert ours.metadata["tokenizer.ggml.tokens"] == 3  # string arrays are skipped, counted
    assert ours.metadata["tokenizer.ggml.token_type"] == [1, 2, 3]
    for t in GGUFReader(path).tensors:
        expected = torch.from_numpy(np.array(dequantize(t.data, t.tensor_type), dtype=np.float32))
        actual = ours.read(t.name)
        assert actual.shape == expected.shape and torch.equal(actual, expected), t.name
    assert torch.allclose(ours.read("q8"), torch.from_numpy(data["q8"]), atol=0.05)


def test_gguf_blocks_and_front_equal_the_hf_model(tiny_gguf, untied_dir):
    info = load_model_info(tiny_gguf)
    assert info.config.tie_word_embeddings is False
    model = AutoModelForCausalLM.from_pretrained(untied_dir).eval()
    run = run_greedy(model, torch.tensor([[1, 7, 8, 9, 10]]), steps=3)
    span = BlockSpan.load(info, 1, 4)
    cache = span.new_cache(16)
    for states in run.hidden_states:
        torch.testing.assert_close(span.forward(states[1], cache), states[4], rtol=0, atol=1e-5)
    front = ModelFront.load(info)
    assert torch.equal(front.embed(run.inputs[0]), run.hidden_states[0][0])
    torch.testing.assert_close(front.logits(run.final_norm_inputs[0]), run.logits[0], rtol=0, atol=1e-5)


def test_non_llama_gguf_is_refused(tmp_path, untied_dir):
    path = write_llama_gguf(untied_dir, tmp_path / "falcon.gguf", arch="falcon")
    with pytest.raises(ModelError, match="architecture 'falcon'.*safetensors"):
        load_model_info(path)


def test_rope_scaling_gguf_is_refused(tmp_path, untied_dir):
    path = write_llama_gguf(untied_dir, tmp_path / "yarn.gguf", extra_kv={"llama.rope.scaling.type": "yarn"})
    with pytest.raises(ModelError, match="RoPE scaling"):
        load_model_info(path)
