from chainswarm.routing.bans import BanList


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ban_expires_after_base_time() -> None:
    clock = FakeClock()
    bans = BanList(base_s=10, clock=clock)
    assert bans.ban("A") == 10
    assert bans.is_banned("A") and bans.banned() == {"A"}
    clock.now += 9.9
    assert bans.is_banned("A")
    clock.now += 0.2
    assert not bans.is_banned("A") and bans.banned() == frozenset()


def test_repeated_failures_back_off_exponentially_up_to_the_cap() -> None:
    clock = FakeClock()
    bans = BanList(base_s=10, backoff=2, max_s=35, clock=clock)
    durations = []
    for _ in range(4):
        durations.append(bans.ban("A"))
        clock.now += durations[-1] + 1  # the ban ran out, then the node failed again
    assert durations == [10, 20, 35, 35]


def test_success_forgets_past_failures() -> None:
    clock = FakeClock()
    bans = BanList(base_s=10, clock=clock)
    bans.ban("A")
    bans.ban("A")
    bans.success("A")
    assert not bans.is_banned("A")
    assert bans.ban("A") == 10


def test_bans_are_per_peer() -> None:
    bans = BanList(base_s=10, clock=FakeClock())
    bans.ban("A")
    assert not bans.is_banned("B")


def test_a_hold_keeps_a_node_out_without_a_strike() -> None:
    clock = FakeClock()
    bans = BanList(base_s=10, clock=clock)
    bans.hold("A", 5)
    assert bans.is_banned("A")
    clock.now += 5.1
    assert not bans.is_banned("A")
    assert bans.ban("A") == 10  # the hold counted no failure: the first real ban is the base one


def test_a_hold_never_shortens_a_ban() -> None:
    clock = FakeClock()
    bans = BanList(base_s=10, clock=clock)
    bans.ban("A")
    bans.hold("A", 2)
    clock.now += 5
    assert bans.is_banned("A")
    clock.now += 6
    assert not bans.is_banned("A")
    assert bans.ban("A") == 20  # the earlier strike still counts
