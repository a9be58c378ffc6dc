"""Decentralized start strategies vs the centralized plan under churn, on the paper's grid.

For every (λ, J, η) and seed: the paper's swarm (BLOOM-176B, 40 GB fast / 20 GB slow servers,
seeded RTTs, ``sim.swarm.paper_swarm``) joins one server at a time in its seeded order, each
placing itself by the strategy and the swarm rebalancing after each join; then J/5 random
servers leave one at a time. Printed per strategy, averaged over seeds:

- ``join×``/``leave×``: the swarm's Theorem-4 lower bound on mean response time divided by the
  centralized plan's (choose_c → GBP-CR → GCA over the same servers), after the joins and after
  the leaves; "inf" if the swarm ended uncovered or overloaded while the centralized plan is
  stable; the worst seed in brackets;
- ``rl/join``, ``rl/leave``: servers that had to load blocks they did not hold, per event (a
  joining server's own first load is not counted); ``blk/ev``: blocks loaded per event;
  ``chg/ev``: span changes per event, including servers that only dropped blocks.

Then a ``#`` line per strategy and λ: reloads per join and per leave over the grid, and the mean,
worst and count above 1.05 of the per-point bound ratios (the design goal: within 5% of
centralized at every grid point, about one reload per join or leave).

With ``--jobs N`` it also simulates N Poisson jobs under JFFC (``sim.engine``) on the final
placement of each strategy and on the centralized plan, and prints the ratio of the simulated
mean response times (``sim×``).

    python bench/decentralized.py            # full grid, 3 seeds (many minutes)
    python bench/decentralized.py --servers 10 20 --rates 0.6 --seeds 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from chainswarm.placement import choose_c, gca
from chainswarm.placement.gbp_cr import InfeasiblePlacement
from chainswarm.sim.churn import STRATEGIES, ChurnResult, Phase, run_churn
from chainswarm.sim.dispatch import JffcDispatcher
from chainswarm.sim.engine import simulate
from chainswarm.sim.profiles import BLOOM_176B, PAPER_INPUT_TOKENS, PAPER_OUTPUT_TOKENS
from chainswarm.sim.stats import summarize
from chainswarm.sim.swarm import paper_swarm
from chainswarm.sim.workload import poisson_jobs


def _simulated_mean(phase: Phase, arrival_rate: float, jobs: int, seed: int, centralized: bool) -> float:
    """Mean response time of N Poisson jobs under JFFC on the phase's placement (or on the
    centralized plan over the same servers); inf if it has no chain or its backlog grows."""
    model = BLOOM_176B.spec
    if centralized:
        try:
            _, _, chains = choose_c(phase.specs, model, arrival_rate)
        except InfeasiblePlacement:
            return math.inf
    else:
        chains = gca(phase.specs, model, {n: s for n, s in phase.placement.items() if s.count > 0})
    if not chains:
        return math.inf
    specs = {s.name: s for s in phase.specs}

    def service_time(job, hops):
        return job.size * sum(specs[n].comm_time + specs[n].block_time * m for n, m in hops)

    summary = summarize(
        simulate(JffcDispatcher(chains), poisson_jobs(arrival_rate, jobs, seed), service_time)
    )
    return math.inf if summary.overloaded else summary.response_mean


def _one(args: tuple[str, int, float, float, int, int]) -> tuple[tuple, ChurnResult, float]:
    strategy, servers, eta, rate, seed, jobs = args
    swarm = paper_swarm(servers, eta, seed)
    specs = {s.name: s for s in swarm.server_specs(PAPER_INPUT_TOKENS, PAPER_OUTPUT_TOKENS)}
    order = [specs[n] for n in swarm.join_order]
    result = run_churn(strategy, order, BLOOM_176B.spec, rate, max(1, servers // 5), seed)
    sim_ratio = math.nan
    if jobs:
        ours = _simulated_mean(result.after_joins, rate, jobs, seed, centralized=False)
        theirs = _simulated_mean(result.after_joins, rate, jobs, seed, centralized=True)
        sim_ratio = ours / theirs if math.isfinite(theirs) else math.nan
    return (strategy, servers, eta, rate), result, sim_ratio


def _fmt_ratio(values: Sequence[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "   n/a      "
    if any(math.isinf(v) for v in finite):
        bad = sum(math.isinf(v) for v in finite)
        return f"inf({bad}/{len(finite)})".ljust(12)
    return f"{statistics.mean(finite):.3f}[{max(finite):.3f}]"


def _row(
    key: tuple[str, int, float, float], runs: Sequence[tuple[ChurnResult, float]], simulated: bool
) -> str:
    """One line of the table: a strategy at a grid point, over its seeds."""
    strategy, j, eta, rate = key
    results = [r for r, _ in runs]
    events = [e for r in results for e in r.events]
    line = f"{rate:>4} {j:>3} {eta:>4}  {strategy:<14}"
    line += _fmt_ratio([r.after_joins.ratio for r in results]).ljust(14)
    line += _fmt_ratio([r.after_leaves.ratio for r in results]).ljust(14)
    line += f"{statistics.mean(r.per_event('join') for r in results):>8.2f}"
    line += f"{statistics.mean(r.per_event('leave') for r in results):>9.2f}"
    line += f"{statistics.mean(e.blocks_loaded for e in events):>8.1f}"
    line += f"{statistics.mean(e.changes for e in events):>8.2f}"
    if simulated:
        line += "  " + _fmt_ratio([s for _, s in runs])
    return line


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[10, 20, 30, 40])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.2, 0.6])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument(
        "--jobs", type=int, default=0, help="simulate this many jobs per run (0: bounds only)"
    )
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    tasks = [
        (strategy, j, eta, rate, seed, args.jobs)
        for rate in args.rates
        for j in args.servers
        for eta in args.fractions
        for strategy in args.strategies
        for seed in range(args.seeds)
    ]
    header = f"{'λ':>4} {'J':>3} {'η':>4}  {'strategy':<14}{'join×':<14}{'leave×':<14}"
    header += f"{'rl/join':>8}{'rl/leave':>9}{'blk/ev':>8}{'chg/ev':>8}" + (
        f"  {'sim×':<14}" if args.jobs else ""
    )
    print(header, flush=True)
    started = time.time()
    points: dict[tuple[str, float], list[list[ChurnResult]]] = {}
    with ProcessPoolExecutor(args.workers) as pool:
        runs: list[tuple[ChurnResult, float]] = []
        for key, result, sim_ratio in pool.map(_one, tasks):  # in task order, seeds last
            runs.append((result, sim_ratio))
            if len(runs) == args.seeds:
                print(_row(key, runs, args.jobs > 0), flush=True)
                points.setdefault((key[0], key[3]), []).append([r for r, _ in runs])
                runs = []
    for (strategy, rate), grid in points.items():
        print(_summary(strategy, rate, grid))
    print(f"# {len(tasks)} runs in {time.time() - started:.0f} s")


def _summary(strategy: str, rate: float, grid: Sequence[Sequence[ChurnResult]]) -> str:
    """One line per strategy and λ over all its grid points: mean reloads per join and per leave
    (each point weighs the same), the mean and worst of the per-point mean bound ratios (after
    joins and after leaves), and how many of those exceed 1.05 (the design goal)."""
    join = statistics.mean(statistics.mean(r.per_event("join") for r in rs) for rs in grid)
    leave = statistics.mean(statistics.mean(r.per_event("leave") for r in rs) for rs in grid)
    ratios = []
    for rs in grid:
        for phase in ("after_joins", "after_leaves"):
            finite = [getattr(r, phase).ratio for r in rs if not math.isnan(getattr(r, phase).ratio)]
            if finite:
                ratios.append(statistics.mean(finite))
    over = sum(x > 1.05 for x in ratios)
    mean, worst = statistics.mean(ratios), max(ratios)
    line = f"# {strategy} λ={rate}: rl/join {join:.2f}, rl/leave {leave:.2f}; "
    return line + f"bound× mean {mean:.3f}, worst {worst:.3f}, >1.05 at {over}/{len(ratios)}"


if __name__ == "__main__":
    main()
