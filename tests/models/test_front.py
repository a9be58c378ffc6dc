"""ModelFront and tokenizer: the client's embeddings, final norm and LM head, and a whole chain end to end."""

from __future__ import annotations

import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM

from chainswarm.models.front import ModelFront, load_tokenizer
from chainswarm.models.span import BlockSpan
from chainswarm.models.spec import ModelError, load_model_info
from tests.models.hf_reference import run_greedy

TOL = 1e-5


def chain_greedy(front: ModelFront, spans: list[BlockSpan], prompt: torch.Tensor, steps: int) -> list[int]:
    """Greedy tokens through front → spans (one cache each) → front, as a client drives a chain."""
    caches = [s.new_cache(prompt.shape[1] + steps) for s in spans]
    ids, tokens = prompt, []
    for _ in range(steps):
        hidden = front.embed(ids)
        for span, cache in zip(spans, caches, strict=True):
            hidden = span.forward(hidden, cache)
        ids = front.logits(hidden)[:, -1:].argmax(-1)
        tokens.append(int(ids))
    return tokens


@pytest.fixture(scope="module")
def reference(tiny_hf):
    return run_greedy(tiny_hf, torch.tensor([[1, 50, 60, 70, 80, 90]]), steps=3)


def test_embed_is_the_first_hidden_state(tiny_info, reference):
    front = ModelFront.load(tiny_info)
    for ids, states in zip(reference.inputs, reference.hidden_states, strict=True):
        assert torch.equal(front.embed(ids), states[0])


def test_logits_equal_the_models(tiny_info, reference):
    front = ModelFront.load(tiny_info)
    assert front.lm_head_weight is front.embed_tokens.weight  # tied
    for last, logits in zip(reference.final_norm_inputs, reference.logits, strict=True):
        assert (front.logits(last) - logits).abs().max().item() <= TOL


def test_untied_lm_head(untied_dir):
    model = AutoModelForCausalLM.from_pretrained(untied_dir).eval()
    front = ModelFront.load(load_model_info(untied_dir))
    assert front.lm_head_weight is not front.embed_tokens.weight
    run = run_greedy(model, torch.tensor([[1, 5, 9]]), steps=1)
    assert torch.equal(front.lm_head_weight, model.lm_head.weight)
    assert (front.logits(run.final_norm_inputs[0]) - run.logits[0]).abs().max().item() <= TOL


def test_front_in_bfloat16(tiny_info, reference):
    front = ModelFront.load(tiny_info, dtype=torch.bfloat16)
    assert front.embed(reference.inputs[0]).dtype == torch.bfloat16
    assert front.logits(reference.final_norm_inputs[0]).dtype == torch.bfloat16


def test_three_spans_generate_what_hf_generates(tiny_dir, tiny_info, tiny_hf):
    prompt = torch.tensor([[1, 40, 41, 42, 43, 44, 45]])
    expected = tiny_hf.generate(prompt, max_new_tokens=10, do_sample=False, eos_token_id=None)[0, 7:].tolist()
    assert len(set(expected)) > 1, "the tiny model should not collapse to one token"
    spans = [BlockSpan.load(tiny_info, a, b) for a, b in ((0, 2), (2, 4), (4, 6))]
    assert chain_greedy(ModelFront.load(tiny_info), spans, prompt, steps=10) == expected


def test_tokenizer_with_chat_template(tiny_info):
    tok = load_tokenizer(tiny_info)
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Hello world"}], add_generation_prompt=True, tokenize=False
    )
    assert text.endswith("<|im_start|>assistant\n")
    ids = tok(text)["input_ids"]
    assert max(ids) < tiny_info.config.vocab_size
    assert tok.decode(ids) == text


def test_directory_without_tokenizer(tmp_path, tiny_dir):
    copy = shutil.copytree(
        tiny_dir, tmp_path / "m", ignore=shutil.ignore_patterns("tokenizer*", "chat_template*")
    )
    with pytest.raises(ModelError, match="cannot load a tokenizer"):
        load_tokenizer(load_model_info(copy))
