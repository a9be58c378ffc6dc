"""One simulated run of a policy on a swarm and workload, and the paper's comparison grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chainswarm.sim.engine import Hop, simulate
from chainswarm.sim.policies import DEFAULT_OPTIONS, Infeasible, PolicyOptions, build_plan
from chainswarm.sim.profiles import BLOOM_176B, LlmProfile
from chainswarm.sim.stats import Summary, summarize
from chainswarm.sim.swarm import Swarm, paper_swarm
from chainswarm.sim.workload import Job, mean_lengths, poisson_jobs

GRID_SERVERS = (10, 20, 30, 40)
GRID_HIGH_FRACTIONS = (0.1, 0.2, 0.3, 0.4)
GRID_RATE = 0.2
GRID_POLICIES = ("proposed", "petals", "bprr")
PAPER_OMITS = {(10, 0.1)}
"""Grid points the paper leaves out (§5.2: "not all L blocks can be placed")."""


@dataclass(frozen=True)
class RunResult:
    policy: str
    summary: Summary
    details: dict[str, int | float | str]


def run_jobs(
    policy: str,
    swarm: Swarm,
    jobs: Sequence[Job],
    arrival_rate: float,
    options: PolicyOptions = DEFAULT_OPTIONS,
) -> RunResult:
    """Plan ``policy`` for the jobs' mean lengths and ``arrival_rate``, then serve every job.

    Raises ``Infeasible`` when the policy cannot serve the swarm.
    """
    n_in, n_out = mean_lengths(jobs)
    plan = build_plan(policy, swarm, arrival_rate, n_in, n_out, options)

    def service_time(job: Job, hops: Sequence[Hop]) -> float:
        return job.size * swarm.path_time_s(hops, job.input_tokens, job.output_tokens)

    records = simulate(plan.dispatcher, jobs, service_time)
    return RunResult(policy, summarize(records), plan.details)


def run_poisson(
    policy: str,
    num_servers: int,
    high_fraction: float,
    arrival_rate: float,
    seed: int,
    num_jobs: int,
    options: PolicyOptions = DEFAULT_OPTIONS,
    model: LlmProfile = BLOOM_176B,
) -> RunResult:
    """The paper's setting for one seed: the swarm and the jobs both follow from ``seed``."""
    swarm = paper_swarm(num_servers, high_fraction, seed, model)
    return run_jobs(policy, swarm, poisson_jobs(arrival_rate, num_jobs, seed), arrival_rate, options)


@dataclass(frozen=True)
class GridPoint:
    """Per policy: mean response time (s) averaged over the seeds, whether any seed's run was
    overloaded, or why the policy is infeasible."""

    num_servers: int
    high_fraction: float
    mean_response_s: dict[str, float] = field(default_factory=dict)
    overloaded: dict[str, bool] = field(default_factory=dict)
    infeasible: dict[str, str] = field(default_factory=dict)

    def reduction_vs_petals(self) -> float | None:
        """1 − proposed/petals, or None if either is missing."""
        p, q = self.mean_response_s.get("proposed"), self.mean_response_s.get("petals")
        return None if p is None or q is None else 1.0 - p / q


def run_grid(
    seeds: Sequence[int],
    num_jobs: int,
    arrival_rate: float = GRID_RATE,
    policies: Sequence[str] = GRID_POLICIES,
    options: PolicyOptions = DEFAULT_OPTIONS,
    model: LlmProfile = BLOOM_176B,
) -> list[GridPoint]:
    """Every (J, η) of the paper's grid; each policy's mean response averaged over ``seeds``."""
    points = []
    for num_servers in GRID_SERVERS:
        for eta in GRID_HIGH_FRACTIONS:
            point = GridPoint(num_servers, eta)
            for policy in policies:
                try:
                    runs = [
                        run_poisson(
                            policy, num_servers, eta, arrival_rate, s, num_jobs, options, model
                        ).summary
                        for s in seeds
                    ]
                except Infeasible as exc:
                    point.infeasible[policy] = str(exc)
                    continue
                point.mean_response_s[policy] = sum(r.response_mean for r in runs) / len(runs)
                point.overloaded[policy] = any(r.overloaded for r in runs)
            points.append(point)
    return points
