"""Hardware and model profiles of the paper's simulations (paper §5.2), and the per-request time
formulas that turn them into τ^p_j and τ^c_j.

Sizes are in GB and times in seconds unless a name says otherwise. τ^p_j is the paper's per-block
computation time for a whole request: t_o + t^I_j·l_in + t^O_j·(l_out − 1), with prefill
compute-bound (t^I = F/f_j) and decode memory-bound (t^O = s_m/b_j).
"""

from __future__ import annotations

from dataclasses import dataclass

from chainswarm.placement.specs import ModelSpec


@dataclass(frozen=True)
class GpuProfile:
    """A server class: memory it offers (GB), compute (TFLOPS) and memory bandwidth (GB/ms)."""

    name: str
    memory_gb: float
    tflops: float
    bandwidth_gb_per_ms: float


@dataclass(frozen=True)
class LlmProfile:
    """A model as the simulator needs it.

    ``cache_gb`` is s_c: one job's KV cache in one block at ``max_length`` tokens.
    ``block_gflops_per_token`` is F, the compute of one block for one token.
    ``autograd_reserve_gb`` is the memory Petals holds back (2 GiB × hidden/14336).
    """

    name: str
    num_blocks: int
    block_gb: float
    cache_gb: float
    hidden_size: int
    block_gflops_per_token: float
    max_length: int = 2048
    block_overhead_s: float = 0.001

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(self.num_blocks, self.block_gb, self.cache_gb)

    @property
    def autograd_reserve_gb(self) -> float:
        return 2 * 2**30 / 1e9 * self.hidden_size / 14336

    def activation_gb_per_token(self) -> float:
        """Hidden states of one token in 16-bit floats, as relayed between servers."""
        return 2 * self.hidden_size / 1e9


HIGH_GPU = GpuProfile("3g.40gb", memory_gb=40.0, tflops=120.0, bandwidth_gb_per_ms=1.02)
LOW_GPU = GpuProfile("2g.20gb", memory_gb=20.0, tflops=80.0, bandwidth_gb_per_ms=0.51)

BLOOM_176B = LlmProfile(
    "bloom-176b", num_blocks=70, block_gb=1.32, cache_gb=0.11, hidden_size=14336, block_gflops_per_token=5.0
)
"""The paper's simulation model (NF4 weights, 2048-token cache)."""

LLAMA_2_7B = LlmProfile(
    "llama-2-7b",
    num_blocks=32,
    block_gb=0.4375,
    cache_gb=0.0336,
    hidden_size=4096,
    block_gflops_per_token=0.4,
)
"""The paper's Petals experiment model (Table I); F = 2 × 0.2 G parameters per block."""

MODELS = {m.name: m for m in (BLOOM_176B, LLAMA_2_7B)}

PAPER_INPUT_TOKENS = 2000
PAPER_OUTPUT_TOKENS = 20
"""Mean request lengths of the Splitwise/Azure trace that the paper's τ^p values assume."""


def prefill_s_per_token(gpu: GpuProfile, model: LlmProfile) -> float:
    """t^I_j = F/f_j (GFLOP / TFLOPS = ms), in seconds."""
    return model.block_gflops_per_token / gpu.tflops / 1000


def decode_s_per_token(gpu: GpuProfile, model: LlmProfile) -> float:
    """t^O_j = s_m/b_j, in seconds: one block for one decode step (Petals' 1/inference_rps)."""
    return model.block_gb / gpu.bandwidth_gb_per_ms / 1000


def block_time_s(gpu: GpuProfile, model: LlmProfile, input_tokens: int, output_tokens: int) -> float:
    """τ^p_j = t_o + t^I_j·l_in + t^O_j·(l_out − 1): one block, one whole request.

    With the paper's lengths this gives 0.1089 s (40 GB class) and 0.1752 s (20 GB class).
    """
    return (
        model.block_overhead_s
        + prefill_s_per_token(gpu, model) * input_tokens
        + decode_s_per_token(gpu, model) * max(output_tokens - 1, 0)
    )
