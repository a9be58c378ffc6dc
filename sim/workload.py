"""Workloads: Poisson arrivals with Exp(1) job sizes (the paper's analysis, §5.2), and replay of a
CSV trace of (arrival time s, input tokens, output tokens).

A job's service time on a route is ``size`` × Σ(τ^c_j + τ^p_j·m_j) with τ's evaluated at the
job's own token counts (``Swarm.path_time_s``). Poisson jobs carry the paper's mean lengths and a
random size; trace jobs carry their own lengths and size 1, so their service time is the paper's
per-block formula for that request.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chainswarm.sim.profiles import PAPER_INPUT_TOKENS, PAPER_OUTPUT_TOKENS

TRACE_COLUMNS = ("arrival_s", "input_tokens", "output_tokens")


@dataclass(frozen=True)
class Job:
    """One request: when it arrives (s), its work in units of the mean, and its token counts."""

    job_id: int
    arrival_s: float
    size: float = 1.0
    input_tokens: int = PAPER_INPUT_TOKENS
    output_tokens: int = PAPER_OUTPUT_TOKENS


def poisson_jobs(
    rate: float,
    count: int,
    seed: int,
    input_tokens: int = PAPER_INPUT_TOKENS,
    output_tokens: int = PAPER_OUTPUT_TOKENS,
) -> list[Job]:
    """``count`` jobs with Exp(``rate``) inter-arrival times and Exp(1) sizes, from their own
    seeded stream so every policy sees the same jobs for the same seed."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    rng = random.Random(f"chainswarm-jobs-{seed}")
    jobs, now = [], 0.0
    for job_id in range(count):
        now += rng.expovariate(rate)
        jobs.append(Job(job_id, now, rng.expovariate(1.0), input_tokens, output_tokens))
    return jobs


def mean_lengths(jobs: Sequence[Job]) -> tuple[int, int]:
    """Mean (input, output) tokens, rounded: what a planner assumes for every request."""
    if not jobs:
        return PAPER_INPUT_TOKENS, PAPER_OUTPUT_TOKENS
    return (
        round(sum(j.input_tokens for j in jobs) / len(jobs)),
        max(1, round(sum(j.output_tokens for j in jobs) / len(jobs))),
    )


def read_trace(path: str | Path) -> list[Job]:
    """Jobs from a CSV with columns arrival_s, input_tokens, output_tokens (a header row is
    optional), sorted by arrival time. Raises ValueError naming the bad line."""
    rows = []
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or (line_no == 1 and row[0].strip() == TRACE_COLUMNS[0]):
                continue
            try:
                arrival, n_in, n_out = float(row[0]), int(row[1]), int(row[2])
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{path}:{line_no}: expected arrival_s,input_tokens,output_tokens") from exc
            if not math.isfinite(arrival) or arrival < 0 or n_in < 0 or n_out < 1:
                raise ValueError(f"{path}:{line_no}: need arrival >= 0, input >= 0, output >= 1")
            rows.append((arrival, n_in, n_out))
    rows.sort(key=lambda r: r[0])
    return [Job(i, a, 1.0, n_in, n_out) for i, (a, n_in, n_out) in enumerate(rows)]


def write_trace(path: str | Path, jobs: Iterable[Job]) -> None:
    """Write jobs in ``read_trace``'s format, with a header."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(TRACE_COLUMNS)
        for job in jobs:
            writer.writerow((f"{job.arrival_s:.6f}", job.input_tokens, job.output_tokens))


def synthetic_trace(count: int, rate: float, seed: int, max_length: int = 2048) -> list[Job]:
    """A small stand-in for the Azure/Splitwise trace (paper §4): bursty arrivals (two-phase
    hyperexponential gaps, squared coefficient of variation 4, mean 1/rate) and lognormal lengths
    (input median 1500, output median 13), each request within ``max_length`` tokens."""
    rng = random.Random(f"chainswarm-trace-{seed}")
    cv2 = 4.0
    p = 0.5 * (1 + math.sqrt((cv2 - 1) / (cv2 + 1)))
    jobs, now = [], 0.0
    for job_id in range(count):
        phase_rate = 2 * p * rate if rng.random() < p else 2 * (1 - p) * rate
        now += rng.expovariate(phase_rate)
        n_out = min(max(1, round(rng.lognormvariate(math.log(13), 0.9))), 256)
        n_in = min(max(1, round(rng.lognormvariate(math.log(1500), 0.6))), max_length - n_out)
        jobs.append(Job(job_id, now, 1.0, n_in, n_out))
    return jobs
