"""The volunteer node's configuration: one validated record built by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything a node needs to join; checked without I/O in ``__post_init__``.

    ``memory_bytes`` None means "auto" (see ``node.memory``). ``blocks`` fixes the span and turns
    off automatic placement and rebalancing. Times are seconds.
    """

    model: str
    initial_peers: tuple[str, ...]
    memory_bytes: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    blocks: tuple[int, int] | None = None
    max_length: int = 2048
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/0",)
    announce: tuple[str, ...] = ()
    identity_path: Path | None = None
    # Behind NAT without a forwarded port: be reachable through public peers' circuit relays, and
    # keep the DHT in client mode (others cannot dial us for DHT requests).
    auto_relay: bool = False
    public_name: str = ""
    update_period_s: float = 10.0
    # Expiry of our DHT records, in update periods (DESIGN.md: 2P–3P).
    expiration_periods: float = 2.5
    session_timeout_s: float = 300.0
    drain_timeout_s: float = 30.0
    mean_balance_check_s: float = 60.0
    # Measure the speed again instead of reading the cached figure (e.g. one taken under load).
    remeasure_speed: bool = False
    # Batch concurrent sessions' decode steps into one forward (off: one forward per step, as Petals).
    batching: bool = True
    cuda_graphs: bool = True  # replay single-session decode steps as CUDA graphs (CUDA only)
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "chainswarm")
    # A reference request for τ^p (paper footnote): prefill tokens and generated tokens.
    workload_input_tokens: int = 256
    workload_output_tokens: int = 64

    def __post_init__(self) -> None:
        if self.memory_bytes is not None and self.memory_bytes <= 0:
            raise ValueError(f"--memory must be positive, got {self.memory_bytes}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.dtype not in ("auto", "float32", "float16", "bfloat16"):
            raise ValueError(f"--dtype must be auto, float32, float16 or bfloat16, got {self.dtype!r}")
        if self.blocks is not None and not 0 <= self.blocks[0] < self.blocks[1]:
            raise ValueError(f"--blocks must be A:B with 0 <= A < B, got {self.blocks[0]}:{self.blocks[1]}")
        if self.max_length < 1:
            raise ValueError("--max-length must be >= 1")
        if self.update_period_s <= 0 or not 2 <= self.expiration_periods <= 3:
            raise ValueError("update period must be positive and expiry 2–3 periods")

    @property
    def expiration_s(self) -> float:
        return self.update_period_s * self.expiration_periods
