"""Baseline policies the paper compares against: Petals, a BPRR-like variant, JFFC-only."""

from chainswarm.placement.baselines.bprr import bprr_num_blocks, cg_bp, choose_num_requests, ws_rr_route
from chainswarm.placement.baselines.jffc_only import (
    jffc_only_capacity,
    jffc_only_chains,
    jffc_only_placement,
)
from chainswarm.placement.baselines.paths import Hop, RouteGraph
from chainswarm.placement.baselines.petals import (
    PetalsLatency,
    PetalsServer,
    block_throughputs,
    choose_best_start,
    min_latency_route,
    petals_cache_slots,
    petals_num_blocks,
    petals_placement,
    petals_throughput,
)

__all__ = [
    "Hop",
    "PetalsLatency",
    "PetalsServer",
    "RouteGraph",
    "block_throughputs",
    "bprr_num_blocks",
    "cg_bp",
    "choose_best_start",
    "choose_num_requests",
    "jffc_only_capacity",
    "jffc_only_chains",
    "jffc_only_placement",
    "min_latency_route",
    "petals_cache_slots",
    "petals_num_blocks",
    "petals_placement",
    "petals_throughput",
    "ws_rr_route",
]
