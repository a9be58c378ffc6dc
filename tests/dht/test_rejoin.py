"""Re-dialing lost initial peers: the back-off schedule (pure), and a bootstrap peer restarted with
the same identity and address under a running peer (real hivemind peers on 127.0.0.1)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from chainswarm.dht.peer import start_dht, visible_maddrs
from chainswarm.dht.rejoin import RedialReport, RedialSchedule, Rejoiner
from chainswarm.dht.swarm import SwarmDHT
from tests.dht.test_swarm import LONG_S, make_spec
from tests.swarm_helpers import shutdown_all

BOOT = "QmBootstrap"


def report(missing: tuple[str, ...] = (BOOT,), pinged: bool = True, answered: tuple[str, ...] = ()) -> RedialReport:
    return RedialReport(missing=missing, pinged=missing if pinged else (), answered=answered,
                        routing_table_size=1)


def test_first_miss_is_redialed_at_once_then_waits_double_up_to_the_cap() -> None:
    schedule = RedialSchedule(base_s=2.0, cap_s=10.0)
    now = 100.0
    waits = []
    for _ in range(5):
        assert schedule.due(now)
        schedule.record(report(), now)
        waits.append(schedule.wait_s)
        assert not schedule.due(now + schedule.wait_s - 0.01)
        now += schedule.wait_s
    assert waits == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_an_unpinged_miss_leaves_the_wait_and_a_full_table_resets_it() -> None:
    schedule = RedialSchedule(base_s=2.0, cap_s=60.0)
    schedule.record(report(), 0.0)
    schedule.record(report(), 2.0)
    schedule.record(report(pinged=False), 3.0)  # checked while waiting: nothing was sent
    assert schedule.wait_s == 4.0 and not schedule.due(5.9) and schedule.due(6.0)
    schedule.record(report(missing=()), 4.0)
    assert schedule.wait_s == 0.0 and schedule.due(4.0)


def test_an_answer_that_leaves_the_peer_missing_still_backs_off() -> None:
    """A live initial peer kept out of a full k-bucket must not be pinged every period."""
    schedule = RedialSchedule(base_s=2.0, cap_s=60.0)
    schedule.record(report(answered=(BOOT,)), 0.0)
    schedule.record(report(answered=(BOOT,)), 2.0)
    assert not schedule.due(5.0)


@pytest.mark.parametrize(("base_s", "cap_s"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 5.0)])
def test_schedule_bounds_are_checked(base_s: float, cap_s: float) -> None:
    with pytest.raises(ValueError):
        RedialSchedule(base_s=base_s, cap_s=cap_s)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.swarm
def test_restarted_bootstrap_learns_the_swarm_only_once_the_peer_redials_it(tmp_path: Path) -> None:
    prefix = f"chainswarm.test-{uuid.uuid4().hex[:12]}"
    identity = tmp_path / "bootstrap.key"
    dhts = [start_dht(identity_path=identity, nat_traversal=False)]
    try:
        maddr = visible_maddrs(dhts[0])[0]
        listen = maddr.split("/p2p/")[0]  # the same port again after the restart
        peer = start_dht([maddr], nat_traversal=False)
        dhts.append(peer)
        clock = FakeClock()
        rejoiner = Rejoiner(peer, clock=clock)
        assert rejoiner.check().missing == ()

        shutdown_all(dhts[:1])
        announcer = SwarmDHT(peer, prefix)
        lost = None
        for _ in range(20):  # the peer drops the bootstrap after its first unanswered request
            announcer.announce_spec(make_spec(), LONG_S)
            lost = rejoiner.check()
            if lost.missing:
                break
            time.sleep(0.25)
        boot_id = maddr.rsplit("/", 1)[1]
        assert lost.missing == lost.pinged == (boot_id,) and lost.answered == ()

        dhts[0] = start_dht(host_maddrs=[listen], identity_path=identity, nat_traversal=False)
        assert visible_maddrs(dhts[0]) == [maddr]
        client = start_dht([maddr], client_mode=True, nat_traversal=False)
        dhts.append(client)
        reader = SwarmDHT(client, prefix)
        assert reader.read_swarm().specs == {}, "the restarted bootstrap knows nobody yet"

        assert rejoiner.check().pinged == (), "the back-off holds the next ping"
        back = None
        for _ in range(40):  # p2pd also backs off re-dials for seconds after the failed one
            clock.now += rejoiner.schedule.wait_s
            back = rejoiner.check()
            if back.answered:
                break
            time.sleep(0.5)
        assert back.answered == (boot_id,)
        assert list(reader.read_swarm().specs) == [announcer.peer_id]
        assert rejoiner.check().missing == ()
    finally:
        shutdown_all(dhts)
