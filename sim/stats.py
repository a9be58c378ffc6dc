"""Per-job records and the summary statistics the paper reports (Table I): mean, median, P95 and
P99 of response, waiting and service time, in seconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JobRecord:
    """When a job arrived, started service (all its cache granted) and finished, in seconds."""

    job_id: int
    arrival_s: float
    start_s: float
    finish_s: float

    @property
    def response_s(self) -> float:
        return self.finish_s - self.arrival_s

    @property
    def wait_s(self) -> float:
        return self.start_s - self.arrival_s

    @property
    def service_s(self) -> float:
        return self.finish_s - self.start_s


@dataclass(frozen=True)
class Summary:
    """Statistics over all jobs of one run, in seconds."""

    jobs: int
    response_mean: float
    response_p50: float
    response_p95: float
    response_p99: float
    wait_mean: float
    wait_p50: float
    wait_p95: float
    wait_p99: float
    wait_max: float
    service_mean: float
    service_p50: float
    service_p95: float
    service_p99: float
    overloaded: bool


def backlog_grows(records: Sequence[JobRecord]) -> bool:
    """Whether waits grow through the run, the mark of an overloaded (unstable) system whose mean
    response time depends on the run length: the last quarter of arrivals waits on average more
    than twice as long as the first quarter, and longer by more than a mean service time. In a
    stable system both quarters see the same stationary wait, give or take noise."""
    ordered = sorted(records, key=lambda r: r.arrival_s)
    quarter = len(ordered) // 4
    if quarter == 0:
        return False
    first = sum(r.wait_s for r in ordered[:quarter]) / quarter
    last = sum(r.wait_s for r in ordered[-quarter:]) / quarter
    service = sum(r.service_s for r in ordered) / len(ordered)
    return last > 2 * first and last - first > service


def summarize(records: Sequence[JobRecord]) -> Summary:
    """Raises ValueError on an empty run."""
    if not records:
        raise ValueError("no jobs to summarize")
    values = {
        "response": np.array([r.response_s for r in records]),
        "wait": np.array([r.wait_s for r in records]),
        "service": np.array([r.service_s for r in records]),
    }
    fields: dict[str, float] = {}
    for name, v in values.items():
        p50, p95, p99 = np.percentile(v, [50, 95, 99])
        fields |= {f"{name}_mean": float(v.mean()), f"{name}_p50": float(p50)}
        fields |= {f"{name}_p95": float(p95), f"{name}_p99": float(p99)}
    return Summary(
        jobs=len(records), wait_max=float(values["wait"].max()), overloaded=backlog_grows(records), **fields
    )
