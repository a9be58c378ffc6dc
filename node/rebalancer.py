"""The node's rebalancing checks (DESIGN.md, Decentralized placement item 6) as an async loop.

Randomized check intervals, a move only after two good checks in a row (``placement.Rebalancer``),
never one that uncovers a block, and only while holding the swarm's "moving" lease.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from chainswarm.dht.swarm import SwarmDHT
from chainswarm.node.choice import SpanChoice, propose_move
from chainswarm.placement import ModelSpec, ServerSpec, Span
from chainswarm.placement.rebalance import Action, Rebalancer, next_check_delay

logger = logging.getLogger(__name__)


async def wait_for_move(
    swarm: SwarmDHT,
    me: Callable[[], ServerSpec],
    span: Span,
    model: ModelSpec,
    mean_check_s: float,
    lease_s: float,
    rng: random.Random,
) -> SpanChoice:
    """Check at random intervals; return the new span once a move is decided and the lease held.

    DHT errors are logged and the check retried later: a flaky swarm must not stop serving.
    """
    rebalancer = Rebalancer()
    while True:
        await asyncio.sleep(next_check_delay(rng, mean_check_s))
        try:
            view = await asyncio.to_thread(swarm.read_swarm)
            proposal, after = propose_move(view, me(), span, model)
            decision = rebalancer.step(proposal, lease_held=False)
            if decision.action is Action.CONFIRM:
                logger.info("rebalance: moving to [%d, %d) would gain %.1f%%; confirming at the next check",
                            proposal.new.start, proposal.new.end, 100 * proposal.gain)
            if decision.action is Action.ACQUIRE_LEASE:
                if await asyncio.to_thread(swarm.try_acquire_lease, lease_s):
                    decision = rebalancer.step(proposal, lease_held=True)
                else:
                    logger.info("rebalance: another node holds the moving lease; waiting")
            if decision.action is Action.MOVE:
                logger.info("rebalance: moving from [%d, %d) to [%d, %d) (gain %.1f%%)", span.start, span.end,
                            proposal.new.start, proposal.new.end, 100 * proposal.gain)
                return after
        except Exception as e:  # DHT timeouts, a peer's bad record: try again at the next check
            logger.warning("rebalance check failed: %s", e)
