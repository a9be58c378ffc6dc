"""How a node reads the swarm for the decentralized rules: the :data:`View` record, and the
rounding that makes two nodes' reads of the same records give the same decisions.

Reproducibility: every rule rounds its inputs (:func:`rounded_servers`, :func:`round_input`)
and breaks every tie by server name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .specs import ServerSpec, Span

View = Mapping[str, tuple[ServerSpec, Span]]
"""Other nodes (online and joining) as the caller read them: name → (server, its span)."""

_SIGNIFICANT_DIGITS = 6


def round_input(x: float) -> float:
    """``x`` rounded to 6 significant digits."""
    return float(f"{x:.{_SIGNIFICANT_DIGITS}g}")


def rounded_servers(servers: Iterable[ServerSpec]) -> list[ServerSpec]:
    """Name-sorted servers with times rounded to 6 significant digits, so that float noise in two
    nodes' reads of the same records cannot change a decision."""
    return [
        ServerSpec(s.name, s.memory, round_input(s.comm_time), round_input(s.block_time))
        for s in sorted(servers, key=lambda s: s.name)
    ]
