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
from chainswarm.models.speed import measure_block_speed, measure_decode_batches

logger = logging.getLogger(__name__)

CACHE_FILE = "speed_v2.json"
# Per-block overhead t_o of the paper's footnote: kernel launches, cache bookkeeping.
BLOCK_OVERHEAD_S = 1e-3
# Sessions per batched decode step at which the step time is measured; interpolated in between.
MEASURED_BATCHES = (1, 4, 16, 64)


@dataclass(frozen=True)
class NodeSpeed:
    """Seconds per block: prefill per token, and one decode step of b sessions at each measured b.

    τ^p is a job's time in a block while the node runs ``concurrency`` jobs at once (the paper's
    capacity, c jobs in parallel). With batching, all of them advance in one step that takes
    ``decode_batch_s`` at that batch size; without, their steps run one after another. So c/τ^p
    is the node's real rate at full load, and placement and GCA plan with real capacity.
    Prefill stays the single-stream figure: a job spends few rounds prefilling.
    """

    prefill_s_per_token: float
    decode_batch_s: tuple[tuple[int, float], ...]  # (sessions in the step, seconds per block), rising b

    def __post_init__(self) -> None:
        batches = [b for b, _ in self.decode_batch_s]
        if not batches or batches[0] != 1 or batches != sorted(set(batches)):
            raise ValueError(f"decode_batch_s must start at batch 1 and rise, got {batches}")

    @property
    def decode_s_per_step(self) -> float:
        """One session decoding alone: the latency of a step through one block."""
        return self.decode_batch_s[0][1]

    def decode_s_per_job_step(self, concurrency: int, batching: bool = True) -> float:
        """Time one job's decode step takes (per block) while ``concurrency`` jobs decode together."""
        n = max(1, concurrency)
        if not batching:
            return n * self.decode_s_per_step
        points = _rising(self.decode_batch_s)
        for (b0, t0), (b1, t1) in zip(points, points[1:], strict=False):
            if n <= b1:
                return t0 + (t1 - t0) * (n - b0) / (b1 - b0)
        if len(points) == 1:
            return n * points[0][1]
        (b0, t0), (b1, t1) = points[-2:]  # past the last measurement: the last slope goes on
        return t1 + (t1 - t0) * (n - b1) / (b1 - b0)

    def block_time_s(self, input_tokens: int, output_tokens: int, concurrency: int = 1,
                     batching: bool = True) -> float:
        """τ^p_j = t_o + t^I·l_in + t^O(c)·(l_out − 1): one job's time in one block (paper §1)."""
        return (BLOCK_OVERHEAD_S + self.prefill_s_per_token * input_tokens
                + self.decode_s_per_job_step(concurrency, batching) * max(0, output_tokens - 1))

    def tokens_per_s(self, num_blocks: int, concurrency: int = 1, batching: bool = True) -> float:
        """Tokens per second that ``concurrency`` sessions generate together through ``num_blocks`` blocks."""
        n = max(1, concurrency)
        return n / max(self.decode_s_per_job_step(n, batching) * max(1, num_blocks), 1e-9)


def _rising(points: tuple[tuple[int, float], ...]) -> list[tuple[int, float]]:
    """The curve with each step at least as long as the smaller batch's: a larger batch never takes
    less time, and a reading spoilt by a noisy neighbour must not make c* look cheap."""
    out, longest = [], 0.0
    for batch, seconds in points:
        longest = max(longest, seconds)
        out.append((batch, longest))
    return out


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
            speed = cached[key]
        else:
            logger.info("measuring speed of one block on %s (%s); cached in %s", device, dtype, path)
            block = random_span(info, 0, 1, dtype=dtype, device=device)
            prefill = measure_block_speed(block).prefill_s_per_token
            speed = NodeSpeed(prefill, tuple(measure_decode_batches(block, MEASURED_BATCHES).items()))
            cached[key] = speed
            path.write_text(json.dumps({k: asdict(v) for k, v in cached.items()}, indent=1))
    logger.info("speed per block: prefill %.3f ms/token, decode step %s", speed.prefill_s_per_token * 1e3,
                ", ".join(f"{t * 1e3:.3f} ms at batch {b}" for b, t in speed.decode_batch_s))
    return speed


def _read(path: Path) -> dict[str, NodeSpeed]:
    """The cached figures; an unreadable file or entry is skipped (and measured again)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    speeds = {}
    for key, value in data.items():
        try:
            speeds[key] = NodeSpeed(float(value["prefill_s_per_token"]),
                                    tuple((int(b), float(t)) for b, t in value["decode_batch_s"]))
        except (KeyError, TypeError, ValueError) as e:
            logger.warning("ignoring cached speed %r in %s: %s", key, path, e)
    return speeds
