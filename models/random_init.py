"""Decoder blocks of a model's real shape with random weights, for measuring speed without the files.

A node times its hardware on such blocks before (or instead of) loading its own, so the measured
τ^p does not depend on which blocks it will host. Initialised like transformers' models: normal
weights with std `initializer_range`, unit norms, zero biases.
"""

from __future__ import annotations

import torch
from torch import nn

from .family import family_of
from .span import BlockSpan
from .spec import ModelInfo


def random_block(
    info: ModelInfo,
    block: int = 0,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> nn.Module:
    """One decoder layer (index `block`) of the model's shape, allocated directly on `device` in `dtype`."""
    with torch.device("meta"):
        layer = family_of(info.config).layer_cls(info.config, block).to(dtype)
    layer = layer.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed + block)
    std = float(getattr(info.config, "initializer_range", 0.02))
    with torch.no_grad():
        for name, param in layer.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            elif "norm" in name:
                param.fill_(1.0)
            else:
                param.normal_(0.0, std, generator=generator)
    return layer.eval().requires_grad_(False)


def random_span(
    info: ModelInfo,
    start: int = 0,
    end: int = 1,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> BlockSpan:
    """A BlockSpan over blocks [start, end) with random weights (same code path as real blocks)."""
    layers = [random_block(info, b, dtype=dtype, device=device, seed=seed) for b in range(start, end)]
    return BlockSpan(info, start, layers)
