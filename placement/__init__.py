"""The paper's algorithms as a pure library (stdlib + numpy only): specs, exact counts, GBP-CR
block placement, GCA cache allocation, the JFFC dispatch state machine, Theorem-4 response-time
bounds and the search over the reservation c.

Other modules (baselines, decentralized rules) add their names below the same way.
"""

from .bounds import response_time_bounds
from .choose_c import Reservation, choose_c, evaluate_c, max_reservation
from .exact import blocks_for_reservation, cache_slots
from .fleet import Fleet
from .gbp_cr import GbpCrPlan, InfeasiblePlacement, gbp_cr, gbp_cr_plan
from .gca import gca, gca_iter
from .jffc import JFFC
from .rebalance import (
    Action,
    Decision,
    MoveProposal,
    Rebalancer,
    evaluate_move,
    move_toward,
    next_check_delay,
)
from .repair import repair_plan
from .reservation import choose_reservation, num_blocks_for, swarm_reservation
from .score import SwarmScore, swarm_score
from .specs import Chain, ModelSpec, Placement, ServerSpec, Span
from .start import best_response, choose_start
from .sticky import Target, plan_target, sticky_plan
from .view import View

__all__ = [
    "Action",
    "Decision",
    "MoveProposal",
    "Rebalancer",
    "SwarmScore",
    "Target",
    "View",
    "best_response",
    "choose_reservation",
    "choose_start",
    "evaluate_move",
    "move_toward",
    "next_check_delay",
    "num_blocks_for",
    "plan_target",
    "repair_plan",
    "sticky_plan",
    "swarm_reservation",
    "swarm_score",
    "Chain",
    "Fleet",
    "GbpCrPlan",
    "InfeasiblePlacement",
    "JFFC",
    "ModelSpec",
    "Placement",
    "Reservation",
    "ServerSpec",
    "Span",
    "blocks_for_reservation",
    "cache_slots",
    "choose_c",
    "evaluate_c",
    "gbp_cr",
    "gbp_cr_plan",
    "gca",
    "gca_iter",
    "max_reservation",
    "response_time_bounds",
]
