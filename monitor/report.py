"""The health report as plain text for a terminal (``chainswarm health``), ASCII only.

Block map legend: one column per block (or per group of blocks when L is wider than the map),
``#`` online, ``+`` joining, ``~`` draining, ``x`` offline, ``.`` not hosted; the coverage line
gives online nodes per block (``!`` = 0, ``+`` = more than 9).
"""

from __future__ import annotations

import math

from chainswarm.monitor.collect import COMM_TIME_NOTE, ModelHealth, NodeRow, short_peer_id

MAP_WIDTH = 60
"""Columns of the block map; wider models group several blocks per column."""

_STATE_MARK = {"online": "#", "joining": "+", "draining": "~", "offline": "x"}


def render_health(health: ModelHealth) -> str:
    """The whole report for one model, ending with a newline."""
    lines = [f"model {health.label}  ({health.num_blocks} blocks, swarm key {health.prefix})", _status(health), ""]
    lines += _block_map(health) + [""]
    lines += _node_table(health.nodes) + [""]
    lines += _chains(health) + [""]
    lines += _load(health)
    if health.rejected:
        lines += ["", f"{len(health.rejected)} record(s) dropped as malformed:"]
        lines += [f"  {where}: {why}" for where, why in sorted(health.rejected.items())]
    return "\n".join(lines) + "\n"


def _status(health: ModelHealth) -> str:
    if health.num_blocks == 0:
        return "status: UNHEALTHY - no node of this model is announced"
    if health.uncovered:
        return f"status: UNHEALTHY - blocks {block_ranges(health.uncovered)} have no online node"
    text = "status: HEALTHY - every block has an online node"
    if health.covered_once:
        text += f"; blocks {block_ranges(health.covered_once)} have only one"
    return text


def block_ranges(blocks: tuple[int, ...] | list[int]) -> str:
    """``0-2, 5, 7-8`` for blocks 0, 1, 2, 5, 7, 8."""
    parts, run = [], []
    for block in blocks:
        if run and block != run[-1] + 1:
            parts.append(run)
            run = []
        run.append(block)
    if run:
        parts.append(run)
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in parts)


def _columns(num_blocks: int) -> list[range]:
    """Blocks shown in each map column."""
    per_column = max(1, math.ceil(num_blocks / MAP_WIDTH))
    return [range(b, min(b + per_column, num_blocks)) for b in range(0, num_blocks, per_column)]


def _block_map(health: ModelHealth) -> list[str]:
    columns = _columns(health.num_blocks)
    label_width = max([8, *(len(_label(n)) for n in health.nodes)])
    per_column = len(columns[0]) if columns else 1
    scale = "" if per_column == 1 else f" ({per_column} blocks per column)"
    lines = [f"block map{scale}: # online  + joining  ~ draining  x offline"]
    cover = "".join(_coverage_mark(min(health.coverage[b] for b in col)) for col in columns)
    lines.append(f"{'coverage':<{label_width}} |{cover}|")
    for node in health.nodes:
        mark = _STATE_MARK.get(node.state, "?")
        bar = "".join(mark if node.start < col.stop and col.start < node.end else "." for col in columns)
        lines.append(f"{_label(node):<{label_width}} |{bar}|")
    return lines


def _coverage_mark(count: int) -> str:
    return "!" if count == 0 else str(count) if count <= 9 else "+"


def _label(node: NodeRow) -> str:
    return node.public_name[:20] or short_peer_id(node.peer_id)


def _node_table(nodes: tuple[NodeRow, ...]) -> list[str]:
    if not nodes:
        return ["nodes: none announced"]
    header = ("peer", "name", "state", "blocks", "memory", "slots free/total", "c", "tau_p s",
              "tok/s", "version", "age s")
    rows = [header] + [
        (n.peer_id, n.public_name or "-", n.state, f"[{n.start}, {n.end})", format_bytes(n.memory_bytes),
         f"{n.cache_slots_free}/{n.cache_slots_total}", str(n.c_reserved), f"{n.block_time_s:.4g}",
         f"{n.tokens_per_s:.4g}", n.version or "-", f"{n.record_age_s:.1f}")
        for n in nodes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def format_bytes(count: int) -> str:
    """Binary units, three significant digits: ``1.5 GiB``."""
    value, unit = float(count), "B"
    for next_unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{value:.3g} {unit}"


def _chains(health: ModelHealth) -> list[str]:
    if not health.chains:
        return ["chains (GCA): none - the online nodes do not cover every block"]
    lines = [f"chains (GCA), fastest first: {len(health.chains)}"]
    for k, chain in enumerate(health.chains, 1):
        hops = " -> ".join(f"{short_peer_id(p)}[{s},{e})" for p, s, e in chain.hops)
        lines.append(f"  {k:>2}. T={chain.service_time_s:.4g} s  c={chain.capacity}  {hops}")
    return lines


def _load(health: ModelHealth) -> list[str]:
    who = f"announced by {health.demand_clients} client(s)" if health.demand_clients else "none announced"
    lines = [
        f"service rate nu = {format_rate(health.service_rate)} jobs/s",
        f"demand lambda = {format_rate(health.arrival_rate)} jobs/s ({who})",
        f"utilization lambda/nu = {_ratio(health.utilization)}",
        f"mean response time at lambda (Theorem 4): {_seconds(health.response_time_lower_s)} .. "
        f"{_seconds(health.response_time_upper_s)}",
    ]
    if health.moving_peer_id:
        lines.append(f"rebalancing lease held by {health.moving_peer_id}")
    return lines + [f"note: {COMM_TIME_NOTE}"]


def format_rate(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4g}"


def _ratio(value: float) -> str:
    return "inf (no capacity)" if math.isinf(value) else f"{value:.1%}"


def _seconds(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"{value:.4g} s"
