"""The health report in Prometheus' text exposition format (version 0.0.4), written by hand.

Every series carries ``model`` (the model id, or the swarm's key prefix when no spec is visible);
per-node series add ``peer_id``. Rates are jobs per second, times seconds; an unbounded response
time is ``+Inf``. Written without prometheus_client so that the package needs no extra dependency;
tests parse the output with prometheus_client's own parser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from chainswarm.dht.records import NodeState
from chainswarm.monitor.collect import HealthReport, ModelHealth

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[dict[str, str], float]


@dataclass(frozen=True)
class MonitorStats:
    """The monitor's own figures: when it last read the swarm and how many reads failed."""

    refreshed_at: float
    refresh_errors: int


def render_metrics(report: HealthReport, stats: MonitorStats) -> str:
    """All metric families, each with HELP and TYPE lines, ending with a newline."""
    out: list[str] = []
    models = report.models

    def family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)

    def per_model(name: str, help_text: str, value) -> None:
        family(name, "gauge", help_text, (({"model": m.label}, value(m)) for m in models))

    per_model("chainswarm_model_healthy", "1 if every block has an online node, else 0.",
              lambda m: float(m.healthy))
    per_model("chainswarm_blocks", "Blocks of the model (L).", lambda m: m.num_blocks)
    per_model("chainswarm_blocks_uncovered", "Blocks no online node hosts.", lambda m: len(m.uncovered))
    per_model("chainswarm_blocks_covered_once", "Blocks exactly one online node hosts.",
              lambda m: len(m.covered_once))
    per_model("chainswarm_min_block_coverage", "Fewest online nodes hosting any block.",
              lambda m: min(m.coverage, default=0))
    family("chainswarm_nodes", "gauge", "Nodes with an unexpired record, by announced state.",
           (({"model": m.label, "state": s.value}, m.count_in(s)) for m in models for s in NodeState))
    per_model("chainswarm_cache_slots_total", "KV cache block-slots over online nodes.",
              lambda m: sum(n.cache_slots_total for n in _online(m)))
    per_model("chainswarm_cache_slots_free", "KV cache block-slots not held by sessions, online nodes.",
              lambda m: sum(n.cache_slots_free for n in _online(m)))
    per_model("chainswarm_chains", "Chains GCA composes over the online nodes.", lambda m: len(m.chains))
    per_model("chainswarm_chain_capacity", "Sum of the chains' capacities c_k (concurrent jobs).",
              lambda m: sum(c.capacity for c in m.chains))
    per_model("chainswarm_service_rate_jobs_per_second", "Total service rate nu = sum of c_k/T_k.",
              lambda m: m.service_rate)
    per_model("chainswarm_arrival_rate_jobs_per_second", "Demand lambda announced by clients.",
              lambda m: m.arrival_rate)
    per_model("chainswarm_utilization_ratio", "lambda/nu (+Inf with demand and no capacity).",
              lambda m: m.utilization)
    per_model("chainswarm_response_time_lower_bound_seconds",
              "Theorem-4 lower bound on JFFC mean response time at lambda.", lambda m: m.response_time_lower_s)
    per_model("chainswarm_response_time_upper_bound_seconds",
              "Theorem-4 upper bound on JFFC mean response time at lambda.", lambda m: m.response_time_upper_s)
    per_model("chainswarm_records_rejected", "Records dropped as malformed in the last read.",
              lambda m: len(m.rejected))
    family("chainswarm_node_cache_slots_free", "gauge", "Free KV cache block-slots of a node.",
           ((_node_labels(m, n.peer_id, n.state), n.cache_slots_free) for m in models for n in m.nodes))
    family("chainswarm_node_record_age_seconds", "gauge", "Seconds since the node last announced.",
           ((_node_labels(m, n.peer_id, n.state), n.record_age_s) for m in models for n in m.nodes))
    family("chainswarm_monitor_last_refresh_timestamp_seconds", "gauge",
           "DHT time of the monitor's last successful read.", [({}, stats.refreshed_at)])
    family("chainswarm_monitor_refresh_errors_total", "counter", "Failed reads of the swarm.",
           [({}, stats.refresh_errors)])
    return "\n".join(out) + "\n"


def _online(health: ModelHealth):
    return (n for n in health.nodes if n.state == NodeState.ONLINE.value)


def _node_labels(health: ModelHealth, peer_id: str, state: str) -> dict[str, str]:
    return {"model": health.label, "peer_id": peer_id, "state": state}


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _escape(value: str) -> str:
    """Label values escape backslash, double quote and newline (exposition format spec)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)
