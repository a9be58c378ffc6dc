"""Reference runs of a whole Hugging Face model, the same way a chain runs: prefill, then cached steps."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel


@dataclass
class ReferenceRun:
    """What the full model saw and produced at each call (call 0 = prefill, then one call per step)."""

    inputs: list[torch.Tensor]  # token ids fed at each call, (1, T)
    hidden_states: list[tuple[torch.Tensor, ...]]  # hidden_states[k] = input of layer k; [-1] after norm
    logits: list[torch.Tensor]
    final_norm_inputs: list[torch.Tensor]  # output of the last layer, before model.norm


@torch.no_grad()
def run_greedy(model: PreTrainedModel, prompt: torch.Tensor, steps: int) -> ReferenceRun:
    """Prefill `prompt` (1, T), then `steps` greedy single-token steps with the model's own cache."""
    captured: list[torch.Tensor] = []
    hook = model.model.norm.register_forward_hook(lambda _m, args, _out: captured.append(args[0].clone()))
    run = ReferenceRun([], [], [], captured)
    try:
        ids, cache = prompt, None
        for _ in range(steps + 1):
            out = model(ids, cache=cache, use_cache=True, output_hidden_states=True)
            run.inputs.append(ids)
            run.hidden_states.append(out.hidden_states)
            run.logits.append(out.logits)
            cache = out.cache
            ids = out.logits[:, -1:].argmax(-1)
    finally:
        hook.remove()
    return run
