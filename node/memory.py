"""How much memory a node offers the swarm (M_j)."""

from __future__ import annotations

import logging
import os

import torch

logger = logging.getLogger(__name__)

# CUDA: keep this much free for activations, the CUDA context and allocator fragmentation.
CUDA_MARGIN_BYTES = 2 * 1024**3
# CPU: offer this fraction of physical RAM by default, leaving the rest to the OS and the user.
CPU_RAM_FRACTION = 0.25


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
