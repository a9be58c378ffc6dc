"""Run times of GCA and the search over c on random heterogeneous swarms (prints figures).

BLOOM-like sizes (s_m 1.32 GB, s_c 0.11 GB, L 70); memories 20–80 GB, τ^p 0.1–0.2 s per block,
τ^c 0.02–0.2 s; fixed seed. GCA runs on the GBP-CR placement (c = 7) with every server hosting
blocks (λ = ∞), its worst case. Each figure is the best of a few runs, as wall-clock and as
this process's CPU time (the machine is shared, so the CPU figure is the steadier one).

    python bench/placement.py
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from chainswarm.placement import ModelSpec, ServerSpec, choose_c, gbp_cr, gca, response_time_bounds

MODEL = ModelSpec(num_blocks=70, block_bytes=1.32, cache_bytes=0.11)
SIZES = (100, 300, 1000)
SEED = 0


def random_swarm(count: int, seed: int = SEED) -> list[ServerSpec]:
    rng = np.random.default_rng(seed)
    return [
        ServerSpec(
            name=f"srv{i:04d}",
            memory=float(rng.uniform(20, 80)),
            comm_time=float(rng.uniform(0.02, 0.2)),
            block_time=float(rng.uniform(0.1, 0.2)),
        )
        for i in range(count)
    ]


def best_time(run: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(best wall seconds, best CPU seconds, result) over ``repeats`` runs."""
    wall, cpu, result = math.inf, math.inf, None
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall = min(wall, time.perf_counter() - start_wall)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def main() -> None:
    print(f"GCA on GBP-CR(c=7) placements, all servers hosting (L={MODEL.num_blocks})")
    print(f"{'J':>6} {'chains':>7} {'job slots':>9} {'wall s':>8} {'cpu s':>8}")
    for count in SIZES:
        servers = random_swarm(count)
        placement = gbp_cr(servers, MODEL, c=7, arrival_rate=math.inf)
        wall, cpu, chains = best_time(lambda: gca(servers, MODEL, placement), repeats=3)  # noqa: B023
        slots = sum(k.capacity for k in chains)
        print(f"{count:>6} {len(chains):>7} {slots:>9} {wall:>8.3f} {cpu:>8.3f}")

    print("\nchoose_c: c* = argmin of the Theorem-4 lower bound over c = 1..c_max")
    print(
        f"{'J':>6} {'λ /s':>6} {'c*':>4} {'hosts':>6} {'chains':>7} {'lower s':>8} {'upper s':>8} {'wall s':>8} {'cpu s':>8}"
    )
    for count in SIZES:
        servers = random_swarm(count)
        for rate in (count / 100, count / 20):
            wall, cpu, (c, placement, chains) = best_time(
                lambda: choose_c(servers, MODEL, rate),  # noqa: B023
                repeats=1 if count >= 1000 else 2,
            )
            lower, upper = response_time_bounds(chains, rate)
            print(
                f"{count:>6} {rate:>6.1f} {c:>4} {len(placement):>6} {len(chains):>7} "
                f"{lower:>8.3f} {upper:>8.3f} {wall:>8.3f} {cpu:>8.3f}"
            )


if __name__ == "__main__":
    main()
