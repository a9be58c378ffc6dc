"""The discrete-event loop. It owns time; a ``Dispatcher`` owns the policy.

A dispatcher is a state machine told about arrivals and completions; it answers with the jobs
that start service now and the route each runs on. The engine turns each start into a
completion event after the job's service time on that route, and records arrival, start and
finish per job. Events at equal times run completions first (freed capacity is visible to an
arrival at the same instant), then in insertion order, so a run is a pure function of its inputs.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chainswarm.sim.stats import JobRecord
from chainswarm.sim.workload import Job

Hop = tuple[str, int]


@dataclass(frozen=True)
class Start:
    """``job`` begins service now on ``hops``: (server, blocks it computes), in chain order."""

    job: Job
    hops: tuple[Hop, ...]


class Dispatcher(ABC):
    """A policy's online half: where jobs go, and when queued jobs start."""

    @abstractmethod
    def arrive(self, job: Job, now: float) -> list[Start]:
        """A job arrives; return it (and nothing else, usually) if it starts at once."""

    @abstractmethod
    def complete(self, job: Job, now: float) -> list[Start]:
        """``job`` finished and released its resources; return the jobs that start because of it."""


ServiceTime = Callable[[Job, Sequence[Hop]], float]
"""Seconds a job takes on a route once started."""

_COMPLETION, _ARRIVAL = 0, 1


def simulate(dispatcher: Dispatcher, jobs: Sequence[Job], service_time: ServiceTime) -> list[JobRecord]:
    """Run every job to completion; records in job-id order.

    Raises RuntimeError if the dispatcher leaves jobs that never start (a policy bug or a route
    that can never get its cache).
    """
    events: list[tuple[float, int, int, Job]] = []
    seq = 0
    for job in sorted(jobs, key=lambda j: (j.arrival_s, j.job_id)):
        events.append((job.arrival_s, _ARRIVAL, seq, job))
        seq += 1
    heapq.heapify(events)
    started: dict[int, float] = {}
    records: dict[int, JobRecord] = {}
    while events:
        now, kind, _, job = heapq.heappop(events)
        if kind == _ARRIVAL:
            starts = dispatcher.arrive(job, now)
        else:
            records[job.job_id] = JobRecord(job.job_id, job.arrival_s, started.pop(job.job_id), now)
            starts = dispatcher.complete(job, now)
        for start in starts:
            started[start.job.job_id] = now
            finish = now + service_time(start.job, start.hops)
            heapq.heappush(events, (finish, _COMPLETION, seq, start.job))
            seq += 1
    if len(records) != len(jobs):
        raise RuntimeError(f"{len(jobs) - len(records)} of {len(jobs)} jobs never started or finished")
    return [records[j] for j in sorted(records)]
