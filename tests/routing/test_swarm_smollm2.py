"""The real SmolLM2-135M-Instruct GGUF served by three nodes: greedy output equals Hugging Face's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from chainswarm.models.spec import load_model_info
from chainswarm.routing.client import connect
from tests.swarm_nodes import START_TIMEOUT_S, local_swarm_processes

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

NEW_TOKENS = 32


def test_greedy_through_three_nodes_equals_hugging_face(smollm2_path: Path, tmp_path: Path) -> None:
    info = load_model_info(smollm2_path)
    with local_swarm_processes(tmp_path, info.model_id) as swarm:
        for a in (0, 10, 20):
            swarm.start_node(smollm2_path, "--blocks", f"{a}:{a + 10}", "--memory", "400MB",
                             "--max-length", "256", name=f"node{a}")
        hf = AutoModelForCausalLM.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name).eval()
        swarm.wait_for(lambda v: len(v.online_nodes()) == 3 and not v.uncovered(), START_TIMEOUT_S, "3 nodes online")
        with connect(smollm2_path, swarm.initial_peers) as model:
            messages = [{"role": "user", "content": "What is the capital of France?"}]
            ids = model.client.generator.encode(messages)
            completion = model.generate(messages, max_new_tokens=NEW_TOKENS, temperature=0)
    with torch.no_grad():
        expected = hf.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False)
    assert completion.token_ids == expected[0, len(ids):].tolist()
    assert [(h.start, h.end) for h in completion.route] == [(0, 10), (10, 20), (20, 30)]
    assert "Paris" in completion.text
