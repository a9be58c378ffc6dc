"""Trace replay: CSV round trip, arrival times respected, per-request service times."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from chainswarm.sim.engine import Hop, simulate
from chainswarm.sim.policies import build_plan
from chainswarm.sim.run import run_jobs
from chainswarm.sim.swarm import paper_swarm
from chainswarm.sim.workload import Job, mean_lengths, read_trace, synthetic_trace, write_trace


def test_trace_round_trip_sorted_by_arrival(tmp_path: Path):
    path = tmp_path / "trace.csv"
    path.write_text("arrival_s,input_tokens,output_tokens\n2.5,100,3\n0.5,2000,20\n1.0,10,1\n")
    jobs = read_trace(path)
    assert [(j.arrival_s, j.input_tokens, j.output_tokens) for j in jobs] == [
        (0.5, 2000, 20),
        (1.0, 10, 1),
        (2.5, 100, 3),
    ]
    assert [j.job_id for j in jobs] == [0, 1, 2] and all(j.size == 1.0 for j in jobs)
    write_trace(tmp_path / "again.csv", jobs)
    assert read_trace(tmp_path / "again.csv") == jobs


@pytest.mark.parametrize("line", ["1.0,abc,3", "1.0,10", "-1,10,3", "1.0,10,0"])
def test_bad_trace_lines_name_the_line(tmp_path: Path, line: str):
    path = tmp_path / "bad.csv"
    path.write_text(f"0.0,5,5\n{line}\n")
    with pytest.raises(ValueError, match=":2:"):
        read_trace(path)


def test_synthetic_trace_is_bursty_and_bounded():
    jobs = synthetic_trace(4000, rate=0.5, seed=0)
    gaps = [b.arrival_s - a.arrival_s for a, b in zip(jobs, jobs[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    var = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    assert mean == pytest.approx(2.0, rel=0.1)
    assert var / mean**2 > 2  # burstier than Poisson (squared CV 1)
    assert all(1 <= j.output_tokens and j.input_tokens + j.output_tokens <= 2048 for j in jobs)


@pytest.mark.parametrize("policy", ["proposed", "petals", "bprr"])
def test_replay_respects_arrivals_and_uses_each_requests_lengths(tmp_path: Path, policy: str):
    path = tmp_path / "trace.csv"
    write_trace(path, synthetic_trace(300, rate=0.2, seed=1))
    jobs = read_trace(path)
    swarm = paper_swarm(20, 0.2, seed=0)
    result = run_jobs(policy, swarm, jobs, arrival_rate=0.2)
    assert result.summary.jobs == len(jobs)
    assert result.summary.wait_mean >= 0
    # service time is the per-request formula, not the mean: short requests are much faster
    assert result.summary.service_p50 < result.summary.service_p99


def test_replay_records_match_the_trace(tmp_path: Path):
    jobs = [Job(0, 0.0, 1.0, 2000, 20), Job(1, 3.0, 1.0, 100, 2), Job(2, 3.5, 1.0, 1000, 50)]
    swarm = paper_swarm(20, 0.2, seed=0)
    plan = build_plan("proposed", swarm, 0.2, *mean_lengths(jobs))
    seen: dict[int, float] = {}

    def service_time(job: Job, hops: Sequence[Hop]) -> float:
        seen[job.job_id] = swarm.path_time_s(hops, job.input_tokens, job.output_tokens)
        return seen[job.job_id]

    records = simulate(plan.dispatcher, jobs, service_time)
    for job, record in zip(jobs, records, strict=True):
        assert record.arrival_s == job.arrival_s
        assert record.start_s >= job.arrival_s
        assert record.service_s == pytest.approx(seen[job.job_id])
    assert records[1].service_s < records[0].service_s  # 100 in / 2 out vs 2000 / 20
