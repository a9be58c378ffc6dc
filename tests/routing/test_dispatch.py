import asyncio

import pytest

from chainswarm.placement.specs import Chain
from chainswarm.routing.dispatch import ArrivalMeter, Dispatcher, chain_key


def chain(name: str, service_time: float, capacity: int) -> Chain:
    return Chain((name,), (4,), service_time, capacity)


FAST, SLOW = chain("fast", 1.0, 2), chain("slow", 3.0, 2)


async def test_fastest_free_chain_first_then_queue() -> None:
    d = Dispatcher([SLOW, FAST])
    leases = [await d.acquire() for _ in range(4)]
    assert [lease.chain.servers for lease in leases] == [("fast",), ("fast",), ("slow",), ("slow",)]
    waiter = asyncio.create_task(d.acquire())
    await asyncio.sleep(0)
    assert not waiter.done() and d.queue_length == 1
    d.release(leases[2])  # a slot frees on the slow chain: the queued request takes it
    assert (await waiter).chain.servers == ("slow",)
    assert d.queue_length == 0


async def test_queue_is_fifo() -> None:
    d = Dispatcher([chain("only", 1.0, 1)])
    first = await d.acquire()
    order: list[int] = []

    async def wait(i: int) -> None:
        lease = await d.acquire()
        order.append(i)
        await asyncio.sleep(0)
        d.release(lease)

    tasks = [asyncio.create_task(wait(i)) for i in range(5)]
    await asyncio.sleep(0)
    d.release(first)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_cancelled_waiter_leaves_the_queue() -> None:
    d = Dispatcher([chain("only", 1.0, 1)])
    held = await d.acquire()
    gone = asyncio.create_task(d.acquire())
    stays = asyncio.create_task(d.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert d.queue_length == 1
    d.release(held)
    assert (await stays).chain.servers == ("only",)
    assert d.running[chain_key(held.chain)] == 1


async def test_busy_marks_chain_full_until_a_completion() -> None:
    d = Dispatcher([FAST, SLOW])
    a = await d.acquire()
    b = await d.acquire()
    assert b.chain is FAST
    moved = await d.reject(b)  # a node of the fast chain said busy
    assert moved.chain is SLOW
    c = await d.acquire()  # fast still has a nominal slot, but it is marked full
    assert c.chain is SLOW
    d.release(a)  # a completion on fast clears the mark
    assert (await d.acquire()).chain is FAST


async def test_rejected_request_waits_at_the_head_of_the_queue() -> None:
    d = Dispatcher([chain("only", 1.0, 2)])
    a = await d.acquire()
    b = await d.acquire()
    d.release(a)
    c = await d.acquire()
    later = asyncio.create_task(d.acquire())
    await asyncio.sleep(0)
    retried = asyncio.create_task(d.reject(c))
    await asyncio.sleep(0)
    d.release(b)
    assert (await retried).chain.servers == ("only",)
    assert not later.done()
    later.cancel()


async def test_refresh_keeps_requests_in_flight_counted() -> None:
    d = Dispatcher([FAST])
    held = [await d.acquire() for _ in range(2)]
    same_fast, new_chain = chain("fast", 1.1, 2), chain("other", 2.0, 1)
    d.set_chains([same_fast, new_chain])
    assert d.running == {chain_key(same_fast): 2, chain_key(new_chain): 0}
    assert (await d.acquire()).chain is new_chain  # fast is still full with the old requests
    waiter = asyncio.create_task(d.acquire())
    await asyncio.sleep(0)
    d.release(held[0])
    assert (await waiter).chain is same_fast


async def test_queued_requests_start_when_chains_appear() -> None:
    d = Dispatcher([])
    waiter = asyncio.create_task(d.acquire())
    await asyncio.sleep(0)
    assert d.queue_length == 1
    d.set_chains([FAST])
    assert (await waiter).chain is FAST


async def test_refresh_with_the_same_chains_lifts_busy_marks() -> None:
    d = Dispatcher([chain("only", 1.0, 2)])
    a = await d.acquire()
    b = await d.acquire()
    d.release(a)
    waiter = asyncio.create_task(d.reject(b))  # busy: the chain is marked full, b waits
    await asyncio.sleep(0)
    assert not waiter.done()
    d.set_chains([chain("only", 1.0, 2)])
    assert (await waiter).chain.servers == ("only",)


def test_arrival_meter_counts_the_window() -> None:
    now = [0.0]
    meter = ArrivalMeter(window_s=10, clock=lambda: now[0])
    for _ in range(5):
        now[0] += 1
        meter.record()
    assert meter.rate() == pytest.approx(5 / 5)
    now[0] = 20
    meter.record()
    assert meter.rate() == pytest.approx(1 / 10)
