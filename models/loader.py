"""Build decoder blocks [start, end) of a model from its files, reading only those blocks' tensors.

Blocks are built one at a time: on the meta device (no random init, no memory), filled with
`load_state_dict(strict=True, assign=True)` so a missing or unexpected tensor is an error, then
moved to the target device and dtype before the next block is read, so host memory peaks at about
one block whatever the span.
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from tqdm import tqdm

from .family import family_of
from .spec import ModelError, ModelInfo
from .weights import WeightSource, block_prefix, open_weights


def load_blocks(
    info: ModelInfo,
    start: int,
    end: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> list[nn.Module]:
    """Decoder layers for blocks [start, end), in eval mode without grads; a tqdm bar on stderr if `progress`."""
    check_block_range(info, start, end)
    source = open_weights(info)
    names = {i: sorted(n for n in source.names if n.startswith(block_prefix(i))) for i in range(start, end)}
    bar = tqdm(
        total=sum(map(len, names.values())),
        desc=f"loading blocks {start}:{end}",
        unit="tensor",
        file=sys.stderr,
        disable=not progress,
    )
    layers = []
    with bar:
        for i in range(start, end):
            layers.append(_load_block(info, source, i, names[i], dtype, device))
            bar.update(len(names[i]))
    return layers


def build_block(
    info: ModelInfo,
    block: int,
    state: dict[str, torch.Tensor],
    dtype: torch.dtype,
    device: torch.device | str,
) -> nn.Module:
    """One decoder layer from `state` (names relative to the block, e.g. `mlp.up_proj.weight`)."""
    with torch.device("meta"):
        layer = family_of(info.config).layer_cls(info.config, block)
    try:
        layer.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise ModelError(f"block {block} of {info.path} does not match its config: {e}") from e
    return layer.to(device=device, dtype=dtype).eval().requires_grad_(False)


def check_block_range(info: ModelInfo, start: int, end: int) -> None:
    if not 0 <= start < end <= info.num_blocks:
        raise ModelError(
            f"block range [{start}, {end}) is not inside [0, {info.num_blocks}) for {info.model_id}"
        )


def _load_block(
    info: ModelInfo,
    source: WeightSource,
    block: int,
    names: list[str],
    dtype: torch.dtype,
    device: torch.device | str,
) -> nn.Module:
    prefix = block_prefix(block)
    state = {name[len(prefix) :]: tensor for name, tensor in source.read(names).items()}
    return build_block(info, block, state, dtype, device)
