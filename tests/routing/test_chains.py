from chainswarm.dht.records import NodeRecord, NodeState, SwarmSpec
from chainswarm.routing.chains import Workload, chain_hops, compose_chains, compose_routes, server_spec
from chainswarm.routing.hop import Hop

SPEC = SwarmSpec(model_id="m", num_blocks=4, dtype="float32", max_length=128, block_bytes=1000, cache_bytes=300)
WORKLOAD = Workload(prompt_tokens=10, new_tokens=5)
PEERS = {name: "12D3KooW" + name * 8 for name in "ABCDE"}


def node(name: str, start: int, end: int, slots: int, decode_s: float = 0.001) -> NodeRecord:
    return NodeRecord(
        peer_id=PEERS[name], state=NodeState.ONLINE, start=start, end=end, memory_bytes=10**6,
        block_bytes=SPEC.block_bytes, cache_slots_total=slots, cache_slots_free=slots,
        block_time_s=0.5, prefill_s_per_token=0.0001, decode_s_per_step=decode_s, c_reserved=1,
        dtype="float32", device="cpu", throughput=1.0, version="0", announced_at=0.0,
    )


def test_server_spec_uses_rtt_per_step_and_announced_speeds() -> None:
    spec = server_spec(node("A", 0, 2, 6), SPEC, rtt_s=0.01, workload=WORKLOAD, num_blocks=2)
    assert spec.comm_time == 0.01 * WORKLOAD.new_tokens
    assert spec.block_time == 0.0001 * 10 + 0.001 * 4
    # memory is chosen so that GCA's slot count is exactly the announced one
    assert (spec.memory - SPEC.block_bytes * 2) // SPEC.cache_bytes == 6


def test_capacity_comes_from_announced_slots() -> None:
    chains = compose_chains([node("A", 0, 2, 6), node("B", 2, 4, 4)], SPEC, {}, WORKLOAD)
    assert len(chains) == 1
    assert chain_hops(chains[0]) == [Hop(PEERS["A"], 0, 2), Hop(PEERS["B"], 2, 4)]
    assert chains[0].capacity == 2  # B: 4 slots / 2 blocks


def test_nearer_node_makes_the_faster_chain() -> None:
    nodes = [node("C", 0, 4, 8), node("D", 0, 4, 8)]
    near_d = compose_chains(nodes, SPEC, {PEERS["C"]: 0.1, PEERS["D"]: 0.01}, WORKLOAD)
    near_c = compose_chains(nodes, SPEC, {PEERS["C"]: 0.01, PEERS["D"]: 0.1}, WORKLOAD)
    assert near_d[0].servers == (PEERS["D"],) and near_c[0].servers == (PEERS["C"],)
    assert {c.servers for c in near_d} == {(PEERS["C"],), (PEERS["D"],)}


def test_uncovered_blocks_give_no_chain() -> None:
    assert compose_chains([node("A", 0, 2, 6), node("B", 3, 4, 6)], SPEC, {}, WORKLOAD) == []


def test_routes_replace_a_hop_with_one_node_or_several() -> None:
    nodes = [node("A", 0, 3, 9), node("B", 2, 4, 8, decode_s=0.1), node("C", 3, 4, 9)]
    routes = compose_routes(nodes, SPEC, {}, WORKLOAD, start=2, end=4)
    spans = [[(h.peer_id, h.start, h.end) for h in route] for route in routes]
    assert [(PEERS["A"], 2, 3), (PEERS["C"], 3, 4)] in spans  # two nodes share the failed hop's blocks
    assert [(PEERS["B"], 2, 4)] in spans
    assert spans[0] == [(PEERS["A"], 2, 3), (PEERS["C"], 3, 4)]  # B is slow to compute: last
    for route in routes:
        assert route[0].start == 2 and route[-1].end == 4
        assert all(a.end == b.start for a, b in zip(route, route[1:], strict=False))


def test_routes_skip_nodes_outside_the_range() -> None:
    routes = compose_routes([node("A", 0, 2, 9), node("B", 2, 4, 9)], SPEC, {}, WORKLOAD, start=0, end=2)
    assert routes == [[Hop(PEERS["A"], 0, 2)]]
