"""``chainswarm simulate``: the discrete-event simulator on the paper's setting (BLOOM-176B,
40 GB fast and 20 GB slow servers, λ in requests/s), one policy at a time or the whole grid."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainswarm.sim.policies import PolicyOptions
    from chainswarm.sim.profiles import LlmProfile
    from chainswarm.sim.run import GridPoint

POLICY_CHOICES = ("proposed", "petals", "bprr", "jffc-only")
MODEL_CHOICES = ("bloom-176b", "llama-2-7b")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _open_fraction(text: str) -> float:
    value = _fraction(text)
    if value in (0.0, 1.0):
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate placement + load-balancing policies on the paper's setting",
        description=(
            "Discrete-event simulation of a swarm serving BLOOM-176B (paper §5.2): J servers, a "
            "fraction η of them fast (40 GB, 109 ms/block) and the rest slow (20 GB, 175 ms/block), "
            "Poisson arrivals with Exp(1) job sizes, or a replayed CSV trace. Prints mean, median, "
            "P95 and P99 of response, waiting and service time in seconds. Deterministic for a seed."
        ),
    )
    parser.add_argument(
        "--servers", type=_positive_int, default=20, metavar="J", help="number of servers (20)"
    )
    parser.add_argument(
        "--high-fraction", type=_fraction, default=0.2, metavar="ETA", help="fraction of fast servers (0.2)"
    )
    parser.add_argument(
        "--rate", type=_positive_float, default=0.2, metavar="LAMBDA", help="requests/s (0.2)"
    )
    parser.add_argument("--policy", choices=POLICY_CHOICES, default="proposed", help="policy (proposed)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seed for swarm and jobs (0)")
    parser.add_argument("--jobs", type=_positive_int, default=2000, metavar="N", help="jobs per run (2000)")
    parser.add_argument(
        "--target-load",
        type=_open_fraction,
        default=0.7,
        metavar="RHO",
        help="ρ̄ for the proposed policy (0.7)",
    )
    parser.add_argument(
        "--petals-refresh",
        type=_non_negative_float,
        default=0.0,
        metavar="S",
        help="how old Petals' view of free cache may get, in seconds (0: current at every request; "
        "Petals' own client re-reads every 60)",
    )
    parser.add_argument(
        "--model", choices=MODEL_CHOICES, default="bloom-176b", help="model profile (bloom-176b)"
    )
    parser.add_argument(
        "--trace",
        metavar="CSV",
        help="replay a trace (arrival_s,input_tokens,output_tokens) instead of Poisson jobs; "
        "--rate and --jobs are then taken from the trace",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--grid",
        action="store_true",
        help="run the paper's grid J ∈ {10,20,30,40} × η ∈ {0.1..0.4} for proposed, petals and bprr",
    )
    parser.add_argument(
        "--seeds", type=_positive_int, default=3, metavar="K", help="with --grid: seeds seed..seed+K-1 (3)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainswarm.sim.policies import Infeasible, PolicyOptions
    from chainswarm.sim.profiles import MODELS

    model = MODELS[args.model]
    options = PolicyOptions(target_load=args.target_load, petals_refresh_s=args.petals_refresh)
    try:
        if args.grid:
            return _run_grid(args, model, options)
        return _run_one(args, model, options)
    except Infeasible as exc:
        print(f"chainswarm simulate: infeasible: {exc}", file=sys.stderr)
        return 1


def _run_one(args: argparse.Namespace, model: LlmProfile, options: PolicyOptions) -> int:
    from chainswarm.sim.run import run_jobs
    from chainswarm.sim.swarm import paper_swarm
    from chainswarm.sim.workload import poisson_jobs, read_trace

    rate = args.rate
    if args.trace:
        try:
            jobs = read_trace(args.trace)
        except (OSError, ValueError) as exc:
            print(f"chainswarm simulate: cannot read trace: {exc}", file=sys.stderr)
            return 1
        if len(jobs) < 2 or jobs[-1].arrival_s <= jobs[0].arrival_s:
            print("chainswarm simulate: a trace needs at least two distinct arrival times", file=sys.stderr)
            return 1
        rate = (len(jobs) - 1) / (jobs[-1].arrival_s - jobs[0].arrival_s)
    else:
        jobs = poisson_jobs(rate, args.jobs, args.seed)
    swarm = paper_swarm(args.servers, args.high_fraction, args.seed, model)
    result = run_jobs(args.policy, swarm, jobs, rate, options)
    setting = {
        "policy": args.policy,
        "model": model.name,
        "servers": args.servers,
        "high_fraction": args.high_fraction,
        "rate": rate,
        "seed": args.seed,
        "jobs": len(jobs),
    }
    if args.json:
        print(json.dumps({**setting, **asdict(result.summary), "details": result.details}))
        return 0
    s = result.summary
    trace = f", trace {args.trace}" if args.trace else ""
    print(
        f"{args.policy} on {model.name}: J={args.servers}, η={args.high_fraction}, λ={rate:.4g} req/s, "
        f"{len(jobs)} jobs, seed {args.seed}{trace}"
    )
    print("  " + ", ".join(f"{k}={v}" for k, v in result.details.items()))
    print(f"  {'(s)':<10}{'mean':>10}{'median':>10}{'p95':>10}{'p99':>10}")
    for label, key in (("response", "response"), ("waiting", "wait"), ("service", "service")):
        row = [getattr(s, f"{key}_{stat}") for stat in ("mean", "p50", "p95", "p99")]
        print(f"  {label:<10}" + "".join(f"{v:>10.3f}" for v in row))
    if s.overloaded:
        print("  overloaded: waits grow through the run, so these figures depend on --jobs")
    return 0


def _run_grid(args: argparse.Namespace, model: LlmProfile, options: PolicyOptions) -> int:
    from chainswarm.sim.run import GRID_POLICIES, PAPER_OMITS, run_grid

    seeds = list(range(args.seed, args.seed + args.seeds))
    points = run_grid(seeds, args.jobs, args.rate, GRID_POLICIES, options, model)
    if args.json:
        print(
            json.dumps(
                {"rate": args.rate, "seeds": seeds, "jobs": args.jobs, "points": [asdict(p) for p in points]}
            )
        )
        return 0
    print(
        f"Mean response time (s) on {model.name}, λ={args.rate} req/s, {args.jobs} jobs × seeds {seeds[0]}..{seeds[-1]}"
    )
    print(f"{'J':>4}{'η':>6}" + "".join(f"{p:>11}" for p in GRID_POLICIES) + f"{'vs Petals':>12}")
    stable, petals_overloaded = [], 0
    for point in points:
        cells = "".join(_grid_cell(point, p) for p in GRID_POLICIES)
        reduction = point.reduction_vs_petals()
        omitted = (point.num_servers, point.high_fraction) in PAPER_OMITS
        if reduction is not None and not omitted:
            if point.overloaded["petals"] or point.overloaded["proposed"]:
                petals_overloaded += point.overloaded["petals"]
            else:
                stable.append(reduction)
        shown = f"{100 * reduction:>11.1f}%" if reduction is not None else f"{'-':>12}"
        print(
            f"{point.num_servers:>4}{point.high_fraction:>6.1f}{cells}{shown}{'  (paper omits)' if omitted else ''}"
        )
    if any(any(p.overloaded.values()) for p in points):
        print("+ overloaded: waits grow through the run, so the mean depends on --jobs")
    if stable:
        print(
            f"proposed vs Petals where both are stable ({len(stable)} of the paper's points): "
            f"{100 * min(stable):.1f}% to {100 * max(stable):.1f}% lower mean response time (paper: 8% to 83%)"
        )
    if petals_overloaded:
        print(f"Petals is overloaded at {petals_overloaded} of the paper's points")
    return 0


def _grid_cell(point: GridPoint, policy: str) -> str:
    if policy not in point.mean_response_s:
        return f"{'infeasible':>11}"
    mark = "+" if point.overloaded[policy] else " "
    return f"{point.mean_response_s[policy]:>10.2f}{mark}"
