"""Moves toward a new placement, one server at a time, that never uncover a hosted block (DESIGN.md,
"Decentralized placement"), and what a move costs in blocks to load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .score import uncovered_set
from .specs import ModelSpec, Span


def blocks_to_load(old: Span | None, new: Span) -> int:
    """Blocks of ``new`` that ``old`` does not hold (all of them for a server not yet placed)."""
    if old is None:
        return new.count
    overlap = max(0, min(old.end, new.end) - max(old.start, new.start))
    return new.count - overlap


def keeps_coverage(placement: Mapping[str, Span], name: str, new: Span, model: ModelSpec) -> bool:
    """Whether every block hosted now is still hosted after ``name`` moves to ``new`` (a node not
    yet placed only adds blocks)."""
    return uncovered_set({**placement, name: new}, model) <= uncovered_set(placement, model)


def may_move(
    placement: Mapping[str, Span],
    name: str,
    new: Span,
    model: ModelSpec,
    pending: Iterable[tuple[str, Span]],
    repairing: bool,
) -> bool:
    """Whether ``name`` may move to ``new`` now. A move may not leave uncovered a block that is
    hosted now, with one exception: a swarm that already misses a block (it serves nothing) on
    its way to a plan that covers every block (``repairing``) may open another gap, but only
    when none of the other ``pending`` moves is gap-free, so no gap opens while a gap-free step
    exists."""
    if keeps_coverage(placement, name, new, model):
        return True
    return repairing and not any(keeps_coverage(placement, n, s, model) for n, s in pending if n != name)


def reachable(base: Mapping[str, Span], plan: Mapping[str, Span], model: ModelSpec) -> dict[str, Span]:
    """Where the swarm ends up moving from ``base`` toward ``base`` updated by ``plan``, one
    allowed move at a time (:func:`may_move`; the first allowed by name each step) until every
    move is made or none is allowed."""
    state = dict(base)
    pending = sorted((n, s) for n, s in plan.items() if state.get(n) != s)
    covers = not uncovered_set({**base, **plan}, model)
    while pending:
        repairing = covers and bool(uncovered_set(state, model))
        for i, (name, span) in enumerate(pending):
            if may_move(state, name, span, model, pending, repairing):
                state[name] = span
                del pending[i]
                break
        else:
            break
    return state
