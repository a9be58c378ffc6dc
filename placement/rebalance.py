"""Rebalancing (DESIGN.md, Decentralized placement, item 6): when a placed node should move.

Petals' servers flip-flop (issue #389): each decides on a view that changes while it decides, so
two servers can chase the same gap in turn. Here:

- every node proposes the move that the agreed :func:`~.sticky.plan_target` assigns it
  (the same target for every node with the same view; a node already in place in it stays);
- a move needs a predicted gain above ``threshold`` on ``checks_required`` checks in a row, all
  for the same new span (a check that fails resets the count);
- a move never uncovers a block: the node's current blocks stay hosted by others (the one
  exception, :func:`~.moves.may_move`, is a swarm that already misses blocks and so
  serves nothing, on its way to covering them all);
- only the holder of the swarm's "moving" lease moves (one mover at a time; the lease itself is
  a DHT record, so the pure code only takes ``lease_held``);
- checks come at randomized intervals (:func:`next_check_delay`) so nodes do not act in lockstep.

:class:`Rebalancer` is a small state machine; the caller evaluates, steps it and acts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from .moves import may_move
from .score import SwarmScore, swarm_score
from .specs import ModelSpec, Span
from .sticky import Target, plan_target
from .view import View

MOVE_HYSTERESIS = 0.03
"""Smallest predicted relative gain of the swarm's bound that justifies a reload."""


@dataclass(frozen=True)
class MoveProposal:
    """``name`` should move from ``old`` to ``new``; ``gain`` is the predicted relative
    improvement of the swarm's score once the agreed target is reached (inf when it covers more
    blocks or becomes stable)."""

    name: str
    old: Span
    new: Span
    gain: float


def evaluate_move(
    me_name: str,
    view: View,
    model: ModelSpec,
    c: int,
    arrival_rate: float,
    target_load: float = 0.7,
) -> MoveProposal | None:
    """The move the agreed target asks of ``me_name``, or None if it asks none, predicts no gain,
    or is not allowed yet (:func:`~.moves.may_move`: it would uncover a block that
    another mover's step keeps covered). ``view`` holds every online and joining node, this one
    included; ``c`` is the swarm's reservation (:func:`~.reservation.choose_reservation`)."""
    servers = [spec for spec, _ in view.values()]
    current = {n: span for n, (_, span) in view.items()}
    target = plan_target(servers, current, model, c, arrival_rate, target_load)
    return move_toward(me_name, current, target, swarm_score(servers, model, current, arrival_rate), model)


def move_toward(
    me_name: str, current: Mapping[str, Span], target: Target, score: SwarmScore, model: ModelSpec
) -> MoveProposal | None:
    """:func:`evaluate_move` given the target and the current placement's score, which are the
    same for every node with this view (a simulator computes them once per view). The move must
    be allowed now by :func:`~.moves.may_move`; a mover whose turn has not come (another
    must move first) gets None and proposes again at a later check."""
    if me_name not in current:
        raise KeyError(f"{me_name!r} is not in the view")
    old = current[me_name]
    new = target.placement.get(me_name, old)
    if new == old:
        return None
    gain = target.score.gain_over(score)
    if not gain > 0:
        return None
    pending = [(n, target.placement[n]) for n in target.movers if current.get(n) != target.placement[n]]
    repairing = score.uncovered > 0 and target.score.uncovered == 0
    if not may_move(current, me_name, new, model, pending, repairing):
        return None
    return MoveProposal(me_name, old, new, gain)


class Action(Enum):
    """What the caller of :meth:`Rebalancer.step` does next."""

    STAY = "stay"  # nothing to do
    CONFIRM = "confirm"  # a promising move; check again before acting
    ACQUIRE_LEASE = "acquire_lease"  # confirmed; take the swarm's moving lease, then step again
    MOVE = "move"  # load ``proposal.new`` now (and release the lease when done)


@dataclass(frozen=True)
class Decision:
    action: Action
    proposal: MoveProposal | None = None


class Rebalancer:
    """Hysteresis over a node's rebalancing checks (see the module docstring).

    ``step`` is called once per check with that check's :func:`evaluate_move` result.
    """

    def __init__(self, threshold: float = MOVE_HYSTERESIS, checks_required: int = 2):
        if checks_required < 1:
            raise ValueError(f"checks_required must be >= 1, got {checks_required}")
        self.threshold = threshold
        self.checks_required = checks_required
        self._streak = 0
        self._pending: Span | None = None

    def step(self, proposal: MoveProposal | None, lease_held: bool) -> Decision:
        """Account one check; MOVE only on the ``checks_required``-th good check in a row for the
        same span while the lease is held."""
        if proposal is None or not proposal.gain > self.threshold:
            self._streak, self._pending = 0, None
            return Decision(Action.STAY)
        if proposal.new != self._pending:
            self._streak, self._pending = 0, proposal.new
        self._streak += 1
        if self._streak < self.checks_required:
            return Decision(Action.CONFIRM, proposal)
        if not lease_held:
            return Decision(Action.ACQUIRE_LEASE, proposal)
        self._streak, self._pending = 0, None
        return Decision(Action.MOVE, proposal)


def next_check_delay(rng: random.Random, mean_s: float) -> float:
    """Seconds until the next check: uniform in [mean/2, 3·mean/2), so nodes drift apart instead
    of checking in lockstep, with no very short gap (a fresh move needs time to show in the DHT)."""
    if mean_s <= 0:
        raise ValueError(f"mean_s must be positive, got {mean_s}")
    return mean_s * (0.5 + rng.random())
