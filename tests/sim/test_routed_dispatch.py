"""Per-request routing without a central queue: cache acquired hop by hop, FIFO at each server."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chainswarm.sim.dispatch import CachePools, RoutedDispatcher
from chainswarm.sim.engine import Hop, simulate
from chainswarm.sim.workload import Job


class FixedRouter:
    """Routes job i along routes[i]; records finishes."""

    def __init__(self, routes: dict[int, list[Hop]]) -> None:
        self.routes = routes
        self.finished_ids: list[int] = []

    def route(self, job: Job, now: float, pools: CachePools) -> list[Hop]:
        return self.routes[job.job_id]

    def finished(self, job: Job) -> None:
        self.finished_ids.append(job.job_id)


def _run(
    routes: dict[int, list[Hop]], arrivals: Sequence[float], capacity: dict[str, int], service: float = 10.0
):
    router = FixedRouter(routes)
    jobs = [Job(i, t) for i, t in enumerate(arrivals)]
    records = simulate(RoutedDispatcher(router, capacity), jobs, lambda job, hops: service)
    return records, router


def test_a_request_waits_at_a_full_server_until_cache_frees():
    routes = {0: [("a", 2)], 1: [("a", 2)]}
    records, router = _run(routes, [0.0, 1.0], {"a": 3})
    assert records[0].start_s == 0.0
    assert records[1].start_s == 10.0  # needs 2 slots, only 1 free until job 0 finishes
    assert router.finished_ids == [0, 1]


def test_requests_fitting_together_run_together():
    records, _ = _run({0: [("a", 2)], 1: [("a", 2)]}, [0.0, 1.0], {"a": 4})
    assert [r.wait_s for r in records] == [0.0, 0.0]


def test_fifo_at_a_server_blocks_a_smaller_request_behind_a_larger_one():
    routes = {0: [("a", 3)], 1: [("a", 3)], 2: [("a", 1)]}
    records, _ = _run(routes, [0.0, 1.0, 2.0], {"a": 4})
    # job 1 waits for 3 slots; job 2 would fit in the 1 free slot but queues behind it
    assert records[1].start_s == 10.0
    assert records[2].start_s == 10.0


def test_a_request_holds_earlier_hops_while_it_waits_for_later_ones():
    routes = {0: [("b", 1)], 1: [("a", 1), ("b", 1)], 2: [("a", 1)]}
    records, _ = _run(routes, [0.0, 1.0, 2.0], {"a": 1, "b": 1})
    # job 1 takes a's only slot at t=1 and waits for b until t=10; job 2 waits for a meanwhile
    assert records[1].start_s == 10.0
    assert records[2].start_s == 20.0


def test_a_route_that_can_never_fit_is_an_error():
    with pytest.raises(ValueError, match="cache slots"):
        _run({0: [("a", 5)]}, [0.0], {"a": 4})


def test_records_follow_arrival_start_and_finish():
    records, _ = _run({0: [("a", 1)], 1: [("a", 1)]}, [0.0, 4.0], {"a": 1}, service=5.0)
    r = records[1]
    assert (r.arrival_s, r.start_s, r.finish_s) == (4.0, 5.0, 10.0)
    assert (r.wait_s, r.service_s, r.response_s) == (1.0, 5.0, 6.0)
