"""Builders shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainswarm.placement import Chain
from chainswarm.sim.dispatch import JffcDispatcher
from chainswarm.sim.engine import Hop, simulate
from chainswarm.sim.stats import JobRecord
from chainswarm.sim.workload import Job, poisson_jobs


def one_server_chain(name: str, service_time: float, capacity: int) -> Chain:
    return Chain((name,), (1,), service_time, capacity)


def run_jffc(chains: Sequence[Chain], rate: float, count: int, seed: int) -> list[JobRecord]:
    """Poisson(rate) jobs with Exp(1) sizes through JFFC; service = size × T_k."""
    service = {c.servers: c.service_time for c in chains}

    def service_time(job: Job, hops: Sequence[Hop]) -> float:
        return job.size * service[tuple(name for name, _ in hops)]

    return simulate(JffcDispatcher(chains), poisson_jobs(rate, count, seed), service_time)


def batch_means(values: Sequence[float], batches: int = 20) -> tuple[float, float]:
    """Mean and its standard error from non-overlapping batch means (the batches are long enough,
    thousands of jobs each at these loads, to be nearly independent)."""
    arr = np.asarray(values, dtype=float)
    usable = len(arr) - len(arr) % batches
    means = arr[:usable].reshape(batches, -1).mean(axis=1)
    return float(arr.mean()), float(means.std(ddof=1) / np.sqrt(batches))
