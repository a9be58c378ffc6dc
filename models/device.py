"""Which device and dtype to compute in: the ``auto`` defaults shared by nodes and clients."""

from __future__ import annotations

import torch

DTYPES = ("auto", "float32", "float16", "bfloat16")


def resolve_device(device: str) -> torch.device:
    """``auto``: the first CUDA GPU if there is one, else the CPU. Asking for CUDA without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is visible; use cpu")
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from e


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 (or float16 without bf16 support) on CUDA, float32 on CPU."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)
