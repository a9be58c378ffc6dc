"""How much memory a node offers the swarm (M_j), and which device and dtype it computes in."""

from __future__ import annotations

import logging
import os

import torch

logger = logging.getLogger(__name__)

# CUDA: keep this much free for activations, the CUDA context and allocator fragmentation.
CUDA_MARGIN_BYTES = 2 * 1024**3
# CPU: offer this fraction of physical RAM by default, leaving the rest to the OS and the user.
CPU_RAM_FRACTION = 0.25


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda was given but no CUDA GPU is visible; use --device cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 (or float16 without bf16 support) on CUDA, float32 on CPU."""
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)


def auto_memory_bytes(device: torch.device) -> int:
    """Free CUDA memory minus ``CUDA_MARGIN_BYTES``; on CPU ``CPU_RAM_FRACTION`` of RAM."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        offered = max(0, free - CUDA_MARGIN_BYTES)
        logger.info("memory auto: %.2f GiB free on %s, offering %.2f GiB (margin %.1f GiB)",
                    free / 1024**3, device, offered / 1024**3, CUDA_MARGIN_BYTES / 1024**3)
        return offered
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    offered = int(ram * CPU_RAM_FRACTION)
    logger.info("memory auto on CPU: offering %.2f GiB (%.0f%% of %.1f GiB RAM); set --memory to change",
                offered / 1024**3, CPU_RAM_FRACTION * 100, ram / 1024**3)
    return offered
