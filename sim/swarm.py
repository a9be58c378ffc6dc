"""A simulated swarm: servers with a GPU class and network distances to the orchestrator and to
each other, and the per-request communication time τ^c_j that follows from them.

RTT model (seeded, documented stand-in for the paper's RIPE Atlas Europe measurements): the
orchestrator and the servers sit uniformly at random in a 2,500 km square; each node has an access
delay drawn from a lognormal with median 5 ms (σ = 0.5 in log space); RTT(i, j) = access_i +
access_j + 0.015 ms per km (light in fibre at 200 km/ms, paths 1.5× the great circle). RTTs to the
orchestrator come out at roughly 10–60 ms, median about 30 ms.

τ^c_j (paper §1, the total for a request): the orchestrator relays every step, so a request with
l_in input and l_out output tokens makes l_out round trips to server j (one prefill, l_out − 1
decode steps), each RTT_j + 18 ms (Petals' per-hop overhead), and moves the hidden states of its
l_in + l_out − 1 tokens to the server and back at the link bandwidth (10 Gbit/s, the authors'
simulator's value). This is the authors' MATLAB form RTT_input + (l_out − 1)·RTT with the input
overhead derived from the activation size instead of a fixed 50 ms.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chainswarm.placement.specs import ServerSpec
from chainswarm.sim.profiles import BLOOM_176B, HIGH_GPU, LOW_GPU, GpuProfile, LlmProfile, block_time_s

AREA_KM = 2500.0
ACCESS_MEDIAN_S = 0.005
ACCESS_LOG_SIGMA = 0.5
RTT_S_PER_KM = 0.015e-3


@dataclass(frozen=True)
class NetworkProfile:
    """Per-hop overhead (s) and link bandwidth (Gbit/s) for relayed activations."""

    hop_overhead_s: float = 0.018
    bandwidth_gbit_s: float = 10.0


@dataclass(frozen=True)
class Swarm:
    """Servers (``join_order`` is the order they joined, which Petals' placement depends on)."""

    model: LlmProfile
    gpus: Mapping[str, GpuProfile]
    client_rtt_s: Mapping[str, float]
    server_rtt_s: Mapping[tuple[str, str], float]
    join_order: tuple[str, ...]
    network: NetworkProfile = NetworkProfile()

    @property
    def names(self) -> list[str]:
        return sorted(self.gpus)

    def rtt_between(self, a: str, b: str) -> float:
        return self.server_rtt_s[(a, b) if a < b else (b, a)]

    def comm_time_s(self, name: str, input_tokens: int, output_tokens: int) -> float:
        """τ^c_j for one request (see the module docstring)."""
        steps = max(output_tokens, 1)
        tokens = input_tokens + max(output_tokens - 1, 0)
        transfer_gb = 2 * tokens * self.model.activation_gb_per_token()
        return steps * (self.client_rtt_s[name] + self.network.hop_overhead_s) + (
            transfer_gb * 8 / self.network.bandwidth_gbit_s
        )

    def block_time_s(self, name: str, input_tokens: int, output_tokens: int) -> float:
        """τ^p_j for one request."""
        return block_time_s(self.gpus[name], self.model, input_tokens, output_tokens)

    def server_specs(self, input_tokens: int, output_tokens: int) -> list[ServerSpec]:
        """What a planner sees for requests of these lengths, in name order."""
        return [
            ServerSpec(
                name,
                self.gpus[name].memory_gb,
                self.comm_time_s(name, input_tokens, output_tokens),
                self.block_time_s(name, input_tokens, output_tokens),
            )
            for name in self.names
        ]

    def path_time_s(self, hops: Sequence[tuple[str, int]], input_tokens: int, output_tokens: int) -> float:
        """Σ(τ^c_j + τ^p_j·m_j) over a route's hops (paper Eq.2)."""
        return sum(
            self.comm_time_s(j, input_tokens, output_tokens)
            + self.block_time_s(j, input_tokens, output_tokens) * m
            for j, m in hops
        )


def high_count(num_servers: int, high_fraction: float) -> int:
    """Number of fast servers, J·η rounded half up (J·η in floating point may sit just below)."""
    return math.floor(num_servers * high_fraction + 0.5)


def paper_swarm(
    num_servers: int,
    high_fraction: float,
    seed: int,
    model: LlmProfile = BLOOM_176B,
    network: NetworkProfile = NetworkProfile(),
) -> Swarm:
    """The paper's setting: J servers, a random η-fraction of them 40 GB/fast, the rest 20 GB/slow,
    with seeded RTTs and a seeded join order."""
    if num_servers < 1:
        raise ValueError(f"num_servers must be >= 1, got {num_servers}")
    if not 0.0 <= high_fraction <= 1.0:
        raise ValueError(f"high_fraction must be in [0, 1], got {high_fraction}")
    rng = random.Random(f"chainswarm-swarm-{seed}")
    names = [f"s{j:02d}" for j in range(num_servers)]
    fast = set(rng.sample(names, high_count(num_servers, high_fraction)))
    gpus = {name: HIGH_GPU if name in fast else LOW_GPU for name in names}
    points = {node: (rng.uniform(0, AREA_KM), rng.uniform(0, AREA_KM)) for node in ["client", *names]}
    access = {node: rng.lognormvariate(math.log(ACCESS_MEDIAN_S), ACCESS_LOG_SIGMA) for node in points}

    def rtt(a: str, b: str) -> float:
        return access[a] + access[b] + RTT_S_PER_KM * math.dist(points[a], points[b])

    join_order = names[:]
    rng.shuffle(join_order)
    return Swarm(
        model=model,
        gpus=gpus,
        client_rtt_s={name: rtt("client", name) for name in names},
        server_rtt_s={(a, b): rtt(a, b) for i, a in enumerate(names) for b in names[i + 1 :]},
        join_order=tuple(join_order),
        network=network,
    )
