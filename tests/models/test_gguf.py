"""The real SmolLM2-135M-Instruct GGUF: partial block loads and the front against transformers' own GGUF load."""

from __future__ import annotations

import pytest
import torch

from chainswarm.models.front import ModelFront, load_tokenizer
from chainswarm.models.span import BlockSpan
from chainswarm.models.spec import SourceKind, block_bytes, cache_bytes
from chainswarm.models.weights import open_weights
from tests.models.hf_reference import run_greedy


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """fp32 equality up to rounding; hidden states reach |h| ~ 1e4 here, so relative as well as absolute."""
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def reference(smollm2_hf):
    prompt = torch.tensor([[1, 504, 3458, 282, 4649, 314, 28]])
    return run_greedy(smollm2_hf, prompt, steps=4)


def test_config_matches_transformers(smollm2_info, smollm2_hf):
    assert smollm2_info.kind is SourceKind.GGUF
    assert smollm2_info.model_id.startswith("SmolLM2-135M-Instruct.Q4_1@")
    ours, theirs = smollm2_info.config.to_dict(), smollm2_hf.config.to_dict()
    for key in (
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "rms_norm_eps",
        "rope_parameters",
        "tie_word_embeddings",
        "max_position_embeddings",
        "bos_token_id",
        "eos_token_id",
    ):
        assert ours[key] == theirs[key], key


def test_block_weights_equal_transformers_including_qk_unpermute(smollm2_info, smollm2_hf):
    state = open_weights(smollm2_info).read(
        ["model.layers.10.self_attn.q_proj.weight", "model.layers.10.self_attn.k_proj.weight"]
    )
    hf_attn = smollm2_hf.model.layers[10].self_attn
    assert torch.equal(state["model.layers.10.self_attn.q_proj.weight"], hf_attn.q_proj.weight)
    assert torch.equal(state["model.layers.10.self_attn.k_proj.weight"], hf_attn.k_proj.weight)


def test_blocks_10_to_12_equal_the_full_model(smollm2_info, reference):
    span = BlockSpan.load(smollm2_info, 10, 12)
    cache = span.new_cache(16)
    for states in reference.hidden_states:
        assert_close(span.forward(states[10], cache), states[12])


def test_front_equals_the_full_model(smollm2_info, reference):
    front = ModelFront.load(smollm2_info)
    assert front.lm_head_weight is front.embed_tokens.weight
    for ids, states in zip(reference.inputs, reference.hidden_states, strict=True):
        assert torch.equal(front.embed(ids), states[0])
    for last, logits in zip(reference.final_norm_inputs, reference.logits, strict=True):
        assert_close(front.logits(last), logits)


def test_sizes(smollm2_info, smollm2_hf):
    layer_params = sum(p.numel() for p in smollm2_hf.model.layers[0].parameters())
    assert block_bytes(smollm2_info, torch.float32) == 4 * layer_params
    assert block_bytes(smollm2_info, torch.bfloat16) == 2 * layer_params
    assert cache_bytes(smollm2_info, torch.float32, 2048) == 2 * 3 * 64 * 2048 * 4


def test_tokenizer_comes_from_the_gguf_with_its_chat_template(smollm2_info):
    tok = load_tokenizer(smollm2_info)
    assert len(tok) == smollm2_info.config.vocab_size
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.decode(tok("What is the capital of France?")["input_ids"]) == "What is the capital of France?"
