import pytest

from chainswarm.placement import JFFC, Chain


def chain(name: str, service_time: float, capacity: int) -> Chain:
    return Chain(servers=(name,), blocks=(1,), service_time=service_time, capacity=capacity)


def test_arrivals_take_the_fastest_chain_with_a_free_slot():
    slow, fast = chain("slow", 4.0, 2), chain("fast", 1.0, 1)
    jffc = JFFC([slow, fast])
    assert jffc.arrive("a") is fast
    assert jffc.arrive("b") is slow
    assert jffc.arrive("c") is slow
    assert jffc.arrive("d") is None
    assert jffc.busy == (2, 1)
    assert jffc.queued == ("d",)


def test_queue_is_fifo_and_a_completion_hands_the_head_to_that_chain():
    slow, fast = chain("slow", 4.0, 1), chain("fast", 1.0, 1)
    jffc = JFFC([slow, fast])
    for job in "abcd":
        jffc.arrive(job)
    assert jffc.queued == ("c", "d")
    assert jffc.complete(slow) == "c"  # starts on the slow chain although fast is faster: no migration
    assert jffc.busy == (1, 1)
    assert jffc.complete(1) == "d"
    assert jffc.complete(fast) is None
    assert jffc.busy == (1, 0)
    assert jffc.arrive("e") is fast


def test_equal_rates_break_ties_by_position():
    first, second = chain("x", 2.0, 1), chain("y", 2.0, 1)
    jffc = JFFC([first, second])
    assert jffc.arrive("a") is first
    assert jffc.arrive("b") is second


def test_chains_are_identified_by_identity_or_index():
    twin_a, twin_b = chain("x", 2.0, 1), chain("x", 2.0, 1)
    jffc = JFFC([twin_a, twin_b])
    assert jffc.index(twin_b) == 1
    jffc.arrive("a")
    jffc.arrive("b")
    jffc.complete(twin_b)
    assert jffc.busy == (1, 0)
    with pytest.raises(KeyError):
        jffc.index(chain("x", 2.0, 1))
    with pytest.raises(IndexError):
        jffc.index(2)


def test_completing_an_idle_chain_is_an_error():
    jffc = JFFC([chain("x", 1.0, 1)])
    with pytest.raises(ValueError, match="no running job"):
        jffc.complete(0)


def test_a_blocked_chain_counts_as_full_until_a_completion():
    fast, slow = chain("fast", 1.0, 3), chain("slow", 2.0, 3)
    jffc = JFFC([fast, slow])
    assert jffc.arrive("a") is fast
    jffc.block(fast)
    assert not jffc.is_free(fast)
    assert jffc.arrive("b") is slow
    assert jffc.complete(fast) is None
    assert jffc.is_free(fast)
    assert jffc.arrive("c") is fast


def test_unblock_starts_waiting_jobs_fastest_first():
    fast, slow = chain("fast", 1.0, 2), chain("slow", 2.0, 1)
    jffc = JFFC([fast, slow])
    jffc.block(fast)
    jffc.block(slow)
    assert jffc.arrive("a") is None
    assert jffc.arrive("b") is None
    assert jffc.arrive("c") is None
    assert jffc.unblock(fast) == [("a", fast), ("b", fast)]
    assert jffc.unblock() == [("c", slow)]
    assert jffc.queue_length == 0


def test_a_busy_reply_moves_the_job_on_and_keeps_its_place_in_line():
    fast, slow = chain("fast", 1.0, 2), chain("slow", 2.0, 1)
    jffc = JFFC([fast, slow])
    assert jffc.arrive("a") is fast
    assert jffc.reject(fast, "a") is slow  # fast said busy: try the next one
    assert jffc.busy == (0, 1)
    assert jffc.arrive("b") is None  # fast is blocked, slow full
    assert jffc.reject(slow, "a") is None
    assert jffc.queued == ("a", "b")  # a arrived first, so it waits first


def test_withdraw_removes_only_waiting_jobs():
    jffc = JFFC([chain("x", 1.0, 1)])
    jffc.arrive("a")
    jffc.arrive("b")
    assert not jffc.withdraw("a")
    assert jffc.withdraw("b")
    assert jffc.queue_length == 0


def test_long_runs_keep_counts_consistent():
    chains = [chain(f"k{i}", 1.0 + i, 1 + i % 3) for i in range(5)]
    jffc = JFFC(chains)
    running: list[tuple[str, int]] = []
    for step in range(2000):
        if step % 3 != 2:
            started = jffc.arrive(step)
            if started is not None:
                running.append((step, jffc.index(started)))
        elif running:
            _, k = running.pop(step * 7 % len(running))
            nxt = jffc.complete(k)
            if nxt is not None:
                running.append((nxt, k))
        counts = [sum(1 for _, k in running if k == i) for i in range(5)]
        assert list(jffc.busy) == counts
        assert all(z <= c.capacity for z, c in zip(jffc.busy, chains, strict=True))
        if jffc.queue_length:
            assert all(z == c.capacity for z, c in zip(jffc.busy, chains, strict=True))
