"""The four policies of the paper's comparison, each built from a swarm into a ``Dispatcher``.

- ``proposed``: choose_c → GBP-CR → GCA → JFFC (paper §3), planned at the workload's mean lengths.
- ``petals``: Petals' join-order placement and min-latency routing, waits at full servers.
- ``bprr``: CG-BP placement with |R| from ``choose_num_requests``, WS-RR routing.
- ``jffc-only``: whole model per server that fits it, JFFC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chainswarm.placement import cache_slots, choose_c
from chainswarm.placement.baselines import (
    PetalsLatency,
    PetalsServer,
    RouteGraph,
    cg_bp,
    choose_num_requests,
    jffc_only_chains,
    petals_cache_slots,
    petals_num_blocks,
    petals_placement,
    petals_throughput,
)
from chainswarm.sim.dispatch import JffcDispatcher, RoutedDispatcher
from chainswarm.sim.engine import Dispatcher
from chainswarm.sim.profiles import decode_s_per_token, prefill_s_per_token
from chainswarm.sim.routers import PetalsRouter, WsRrRouter
from chainswarm.sim.swarm import Swarm

POLICIES = ("proposed", "petals", "bprr", "jffc-only")


class Infeasible(Exception):
    """The policy cannot serve this swarm (blocks left uncovered, or no stable configuration)."""


@dataclass(frozen=True)
class PolicyOptions:
    """Knobs of the policies, with the paper's defaults.

    ``target_load``: ρ̄ of the proposed policy (paper §2). ``petals_refresh_s``: how often Petals'
    client re-reads servers' free cache; 0 means it sees the current value at every request,
    which is kinder to Petals than its own client (DHT records re-read every 60 s) but close to
    what its fail-fast allocation plus reroute on "out of memory" achieves.
    """

    target_load: float = 0.7
    petals_refresh_s: float = 0.0


DEFAULT_OPTIONS = PolicyOptions()


@dataclass
class Plan:
    """A ready dispatcher and what the policy decided, for reports."""

    policy: str
    dispatcher: Dispatcher
    details: dict[str, int | float | str] = field(default_factory=dict)


def build_plan(
    policy: str,
    swarm: Swarm,
    arrival_rate: float,
    input_tokens: int,
    output_tokens: int,
    options: PolicyOptions = DEFAULT_OPTIONS,
) -> Plan:
    """Plan for requests of the given mean lengths arriving at ``arrival_rate`` (jobs/s).

    Raises ``Infeasible`` with a reason, or ValueError for an unknown policy.
    """
    builders = {"proposed": _proposed, "petals": _petals, "bprr": _bprr, "jffc-only": _jffc_only}
    if policy not in builders:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    return builders[policy](swarm, arrival_rate, input_tokens, output_tokens, options)


def _proposed(swarm: Swarm, rate: float, n_in: int, n_out: int, options: PolicyOptions) -> Plan:
    specs = swarm.server_specs(n_in, n_out)
    try:
        c, placement, chains = choose_c(specs, swarm.model.spec, rate, options.target_load)
    except ValueError as exc:
        raise Infeasible(f"proposed: {exc}") from exc
    if not chains:
        raise Infeasible("proposed: no reservation c gives a chain covering every block")
    details = {
        "c": c,
        "chains": len(chains),
        "job_servers": sum(ch.capacity for ch in chains),
        "servers_used": sum(1 for span in placement.values() if span.count > 0),
        "fastest_chain_s": round(min(ch.service_time for ch in chains), 3),
        "total_rate": round(sum(ch.capacity * ch.rate for ch in chains), 4),
    }
    return Plan("proposed", JffcDispatcher(chains), details)


def _petals(swarm: Swarm, rate: float, n_in: int, n_out: int, options: PolicyOptions) -> Plan:
    model = swarm.model
    network_rps = swarm.network.bandwidth_gbit_s * 1e9 / (model.hidden_size * 16)
    joining = []
    for name in swarm.join_order:
        gpu = swarm.gpus[name]
        m = petals_num_blocks(gpu.memory_gb, model.spec, reserve=model.autograd_reserve_gb)
        forward_rps = 1.0 / prefill_s_per_token(gpu, model)
        joining.append(PetalsServer(name, m, petals_throughput(forward_rps, network_rps, m) if m else 0.0))
    placement = petals_placement(joining, model.num_blocks)
    graph = RouteGraph(placement, model.num_blocks)
    if not graph.covers_all_blocks():
        raise Infeasible("petals: the servers' block counts leave some block unhosted")
    latency = PetalsLatency(
        client_rtt_s=swarm.client_rtt_s,
        server_rtt_s=swarm.rtt_between,
        block_step_s={name: decode_s_per_token(swarm.gpus[name], model) for name in placement},
    )
    capacity = {name: petals_cache_slots(span.count) for name, span in placement.items()}
    details = {"servers_used": len(placement), "blocks_hosted": sum(s.count for s in placement.values())}
    return Plan(
        "petals", RoutedDispatcher(PetalsRouter(graph, latency, options.petals_refresh_s), capacity), details
    )


def _bprr(swarm: Swarm, rate: float, n_in: int, n_out: int, options: PolicyOptions) -> Plan:
    specs = swarm.server_specs(n_in, n_out)
    model = swarm.model.spec
    try:
        num_requests = choose_num_requests(specs, model, rate)
    except ValueError as exc:
        raise Infeasible(f"bprr: {exc}") from exc
    placement = cg_bp(specs, model, num_requests)
    graph = RouteGraph(placement, model.num_blocks)
    capacity = {
        s.name: cache_slots(s.memory, model, placement[s.name].count) for s in specs if s.name in placement
    }
    router = WsRrRouter(graph, {s.name: s for s in specs}, capacity)
    details = {"num_requests": num_requests, "servers_used": len(placement)}
    return Plan("bprr", RoutedDispatcher(router, capacity), details)


def _jffc_only(swarm: Swarm, rate: float, n_in: int, n_out: int, options: PolicyOptions) -> Plan:
    try:
        chains = jffc_only_chains(swarm.server_specs(n_in, n_out), swarm.model.spec)
    except ValueError as exc:
        raise Infeasible(str(exc)) from exc
    details = {"chains": len(chains), "job_servers": sum(ch.capacity for ch in chains)}
    return Plan("jffc-only", JffcDispatcher(chains), details)
