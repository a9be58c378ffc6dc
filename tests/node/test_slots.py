"""The KV slot pool: reserve until busy, release back to the total, expire abandoned sessions."""

from __future__ import annotations

import pytest

from chainswarm.node.slots import SlotPool


def test_reserve_until_busy_then_release_returns_every_slot():
    pool = SlotPool(total_slots=10)
    sizes = {"s0": 4, "s1": 3, "s2": 2}
    for session_id, size in sizes.items():
        reservation = pool.reserve(session_id, size, now=0.0)
        assert reservation is not None and reservation.num_blocks == size
    assert (pool.in_use, pool.free) == (9, 1)
    assert pool.reserve("s3", 2, now=0.0) is None  # busy: the caller answers with pool.free
    assert "s3" not in pool.sessions and pool.free == 1
    assert pool.reserve("s4", 1, now=0.0) is not None
    assert pool.free == 0
    for session_id in [*sizes, "s4"]:
        pool.release(session_id)
    assert (pool.free, pool.in_use, pool.total, len(pool.sessions)) == (10, 0, 10, 0)


def test_request_larger_than_the_pool_is_never_admitted():
    pool = SlotPool(total_slots=3)
    assert pool.reserve("big", 4, now=0.0) is None
    assert pool.free == 3


def test_double_release_and_unknown_session_raise():
    pool = SlotPool(total_slots=4)
    pool.reserve("s", 2, now=0.0)
    pool.release("s")
    with pytest.raises(KeyError, match="'s' holds no slots"):
        pool.release("s")
    with pytest.raises(KeyError):
        pool.touch("never-opened", now=1.0)
    assert pool.free == 4


@pytest.mark.parametrize("num_blocks", [0, -1, 1.5, True])
def test_bad_block_counts_are_errors_not_busy(num_blocks):
    pool = SlotPool(total_slots=4)
    with pytest.raises(ValueError):
        pool.reserve("s", num_blocks, now=0.0)
    assert pool.free == 4


def test_reopening_an_open_session_is_refused():
    pool = SlotPool(total_slots=4)
    pool.reserve("s", 1, now=0.0)
    with pytest.raises(ValueError, match="already holds"):
        pool.reserve("s", 1, now=0.0)
    assert pool.in_use == 1


def test_expire_releases_only_sessions_idle_past_their_deadline():
    pool = SlotPool(total_slots=6, idle_timeout_s=10.0)
    pool.reserve("old", 2, now=0.0)
    pool.reserve("active", 2, now=0.0)
    pool.reserve("late", 2, now=5.0)
    pool.touch("active", now=8.0)
    assert pool.expire(now=9.9) == []
    assert pool.expire(now=10.0) == ["old"]
    assert pool.free == 2
    assert pool.expire(now=14.9) == []
    pool.reserve("newest", 2, now=14.9)
    assert pool.expire(now=30.0) == ["late", "active", "newest"]  # oldest deadline first
    assert (pool.free, len(pool.sessions)) == (6, 0)


def test_touch_never_moves_a_deadline_backwards():
    pool = SlotPool(total_slots=1, idle_timeout_s=10.0)
    pool.reserve("s", 1, now=100.0)
    pool.touch("s", now=50.0)  # a stale timestamp from a slow handler
    assert pool.expire(now=109.0) == []
    assert pool.expire(now=110.0) == ["s"]


def test_session_context_releases_on_error_and_tolerates_expiry():
    pool = SlotPool(total_slots=4, idle_timeout_s=1.0)
    with pytest.raises(RuntimeError):
        with pool.session("crash", 3, now=0.0) as reservation:
            assert reservation is not None and pool.free == 1
            raise RuntimeError("handler failed")
    assert pool.free == 4

    with pool.session("vanished", 4, now=0.0) as reservation:
        assert pool.expire(now=5.0) == ["vanished"]
        pool.reserve("vanished", 1, now=5.0)  # the id is reused by a new session meanwhile
    assert pool.free == 3 and "vanished" in pool.sessions

    pool.reserve("holder", 3, now=5.0)
    with pool.session("busy", 1, now=5.0) as reservation:
        assert reservation is None
    assert pool.free == 0


@pytest.mark.parametrize("total", [-1, 2.0])
def test_pool_size_must_be_a_non_negative_int(total):
    with pytest.raises(ValueError):
        SlotPool(total_slots=total)
