"""The node's measured speed, cached on disk, and the τ^p it implies (paper §1 footnote).

Measured once per (model shape, device, dtype) on a block with random weights of the real shape,
so the figure does not depend on which blocks the node will host; later starts read the cache.
"""

from __future__ import annotations

import fcntl
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from chainswarm.models.random_init import random_span
from chainswarm.models.spec import ModelInfo
from chainswarm.models.speed import measure_block_speed

logger = logging.getLogger(__name__)

CACHE_FILE = "speed_v1.json"
# Per-block overhead t_o of the paper's footnote: kernel launches, cache bookkeeping.
BLOCK_OVERHEAD_S = 1e-3


@dataclass(frozen=True)
class NodeSpeed:
    """Seconds per block: prefill per token, and one decode step at batch 1."""

    prefill_s_per_token: float
    decode_s_per_step: float

    def block_time_s(self, input_tokens: int, output_tokens: int) -> float:
        """τ^p_j = t_o + t^I·l_in + t^O·(l_out − 1): one job's time in one block (paper §1)."""
        return (BLOCK_OVERHEAD_S + self.prefill_s_per_token * input_tokens
                + self.decode_s_per_step * max(0, output_tokens - 1))

    def tokens_per_s(self, num_blocks: int) -> float:
        """Single-stream decode rate through ``num_blocks`` blocks."""
        return 1.0 / max(self.decode_s_per_step * max(1, num_blocks), 1e-9)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu-{torch.get_num_threads()}threads"


def node_speed(info: ModelInfo, device: torch.device, dtype: torch.dtype, cache_dir: Path,
               remeasure: bool = False) -> NodeSpeed:
    """Cached speed for this model shape on this device, measured if absent or ``remeasure``."""
    shape = info.config
    key = (f"{shape.model_type}-h{info.hidden_size}-i{getattr(shape, 'intermediate_size', 0)}"
           f"-kv{info.num_kv_heads}|{device_name(device)}|{dtype}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / CACHE_FILE
    with open(cache_dir / (CACHE_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # nodes started together on one host measure once
        cached = _read(path)
        if key in cached and not remeasure:
            return NodeSpeed(**cached[key])
        logger.info("measuring speed of one block on %s (%s); cached in %s", device, dtype, path)
        measured = measure_block_speed(random_span(info, 0, 1, dtype=dtype, device=device))
        speed = NodeSpeed(measured.prefill_s_per_token, measured.decode_s_per_step)
        cached[key] = asdict(speed)
        path.write_text(json.dumps(cached, indent=1))
    logger.info("speed: prefill %.3f ms/token/block, decode %.3f ms/step/block",
                speed.prefill_s_per_token * 1e3, speed.decode_s_per_step * 1e3)
    return speed


def _read(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text())
        return {k: v for k, v in data.items()
                if isinstance(v, dict) and set(v) == {"prefill_s_per_token", "decode_s_per_step"}}
    except (OSError, ValueError):
        return {}
