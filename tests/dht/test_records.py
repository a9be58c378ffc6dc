"""Records survive the wire (ours and hivemind's msgpack) and malformed ones are refused with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from hivemind.utils import MSGPackSerializer
from hypothesis import given
from hypothesis import strategies as st

from chainswarm.dht.records import (
    SCHEMA_VERSION,
    LoadRecord,
    MovingLease,
    NodeRecord,
    NodeState,
    RecordError,
    SwarmSpec,
)
from chainswarm.placement.specs import Span

PEER = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"


def node_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        peer_id=PEER,
        state=NodeState.ONLINE,
        start=2,
        end=6,
        memory_bytes=8 * 2**30,
        block_bytes=200 * 2**20,
        cache_slots_total=12,
        cache_slots_free=5,
        block_time_s=0.004,
        prefill_s_per_token=2e-5,
        decode_s_per_step=0.003,
        c_reserved=3,
        dtype="bfloat16",
        device="cuda:0",
        throughput=41.5,
        version="0.1.0",
        announced_at=1_800_000_000.25,
        comm_time_s=0.02,
        public_name="alice's 4090",
        maddrs=("/ip4/10.0.0.2/tcp/31337/p2p/" + PEER,),
    )
    fields.update(changes)
    return fields


def spec(**changes: Any) -> SwarmSpec:
    fields: dict[str, Any] = dict(
        model_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        num_blocks=30,
        dtype="float32",
        max_length=2048,
        block_bytes=15_000_000,
        cache_bytes=1_572_864,
    )
    fields.update(changes)
    return SwarmSpec(**fields)


RECORDS = [
    NodeRecord(**node_fields()),
    NodeRecord(**node_fields(comm_time_s=None, public_name="", maddrs=(), state=NodeState.JOINING)),
    spec(),
    LoadRecord(client_id="client-7f3a", arrival_rate=0.35, window_s=60.0, updated_at=1_800_000_001.0),
    MovingLease(peer_id=PEER, since=1_800_000_000.0, until=1_800_000_030.0),
]


def assert_plain(value: object) -> None:
    """Only the types hivemind's strict msgpack accepts (reference/hivemind.md, pitfall 7)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip_through_wire_and_hivemind_msgpack(record):
    wire = record.to_wire()
    assert_plain(wire)
    assert wire["schema_version"] == SCHEMA_VERSION
    assert type(record).from_wire(wire) == record
    assert type(record).from_wire(MSGPackSerializer.loads(MSGPackSerializer.dumps(wire))) == record


@given(
    start=st.integers(0, 200),
    count=st.integers(1, 80),
    slots=st.integers(0, 10**6),
    used=st.integers(0, 10**6),
    block_time_s=st.floats(0, 10, allow_nan=False),
    name=st.text(max_size=64),
)
def test_any_valid_node_record_round_trips(start, count, slots, used, block_time_s, name):
    record = NodeRecord(
        **node_fields(
            start=start,
            end=start + count,
            cache_slots_total=slots,
            cache_slots_free=max(slots - used, 0),
            block_time_s=block_time_s,
            public_name=name,
        )
    )
    assert NodeRecord.from_wire(MSGPackSerializer.loads(MSGPackSerializer.dumps(record.to_wire()))) == record


def test_unknown_fields_are_ignored_for_forward_compatibility():
    wire = dict(RECORDS[0].to_wire(), gpu_temperature_c=71, extras={"a": [1, 2]})
    assert NodeRecord.from_wire(wire) == RECORDS[0]


def without(wire: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in wire.items() if key != name}


GOOD = RECORDS[0].to_wire()


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ([1, 2, 3], "expected a dict"),
        ("junk", "expected a dict"),
        (without(GOOD, "end"), "end: Field required"),
        (without(GOOD, "schema_version"), "schema version None"),
        (dict(GOOD, schema_version=SCHEMA_VERSION + 1), f"schema version {SCHEMA_VERSION + 1}"),
        (dict(GOOD, start="2"), "start"),
        (dict(GOOD, start=2.0), "start"),
        (dict(GOOD, memory_bytes=True), "memory_bytes"),
        (dict(GOOD, start=6, end=6), "start 6 must be < end 6"),
        (dict(GOOD, start=7, end=6), "start 7 must be < end 6"),
        (dict(GOOD, cache_slots_total=-1, cache_slots_free=0), "cache_slots_total"),
        (dict(GOOD, cache_slots_free=13), "cache_slots_free 13 > cache_slots_total 12"),
        (dict(GOOD, block_time_s=float("nan")), "block_time_s"),
        (dict(GOOD, decode_s_per_step=-0.1), "decode_s_per_step"),
        (dict(GOOD, state="sleeping"), "state"),
        (dict(GOOD, public_name="x" * 10_000), "public_name"),
        (dict(GOOD, peer_id="not base58 0OIl"), "peer_id"),
        (dict(GOOD, maddrs=["/ip4/1.2.3.4/tcp/1"] * 100), "maddrs"),
        (dict(GOOD, maddrs=["relative/addr"]), "maddrs"),
    ],
)
def test_malformed_node_records_are_rejected_with_the_reason(wire, reason):
    with pytest.raises(RecordError, match="^NodeRecord: ") as caught:
        NodeRecord.from_wire(wire)
    assert reason in str(caught.value)
    assert len(str(caught.value)) < 300  # the offending input is never echoed


@pytest.mark.parametrize(
    ("kind", "wire", "reason"),
    [
        (SwarmSpec, dict(spec().to_wire(), num_blocks=0), "num_blocks"),
        (SwarmSpec, dict(spec().to_wire(), cache_bytes=-5), "cache_bytes"),
        (LoadRecord, dict(RECORDS[3].to_wire(), arrival_rate=-1.0), "arrival_rate"),
        (LoadRecord, dict(RECORDS[3].to_wire(), window_s=0.0), "window_s"),
        (LoadRecord, dict(RECORDS[3].to_wire(), client_id="a b"), "client_id"),
        (MovingLease, without(RECORDS[4].to_wire(), "until"), "until"),
    ],
)
def test_malformed_other_records_are_rejected(kind, wire, reason):
    with pytest.raises(RecordError, match=reason):
        kind.from_wire(wire)


def test_local_construction_and_replace_validate_too():
    with pytest.raises(ValueError, match="start 4 must be < end 4"):
        NodeRecord(**node_fields(start=4, end=4))
    record = RECORDS[0]
    updated = record.replace(cache_slots_free=0, state=NodeState.DRAINING)
    assert (updated.cache_slots_free, updated.state, updated.peer_id) == (0, NodeState.DRAINING, PEER)
    with pytest.raises(RecordError, match="cache_slots_free 99"):
        record.replace(cache_slots_free=99)


def test_spec_mismatch_names_each_differing_field():
    assert spec().mismatch(spec()) is None
    message = spec().mismatch(spec(max_length=4096))
    assert message == "max_length: 2048 != 4096"
    message = spec().mismatch(spec(dtype="bfloat16", num_blocks=24))
    assert "num_blocks: 30 != 24" in message and "dtype: 'float32' != 'bfloat16'" in message


def test_node_record_views_for_placement():
    record = RECORDS[0]
    assert record.span == Span(2, 4) and record.num_blocks == 4
    server = record.server_spec()
    assert (server.name, server.memory, server.comm_time, server.block_time) == (PEER, 8 * 2**30, 0.02, 0.004)
    assert record.server_spec(comm_time_s=0.5).comm_time == 0.5
    assert record.check_against(spec(num_blocks=6)) is None
    assert record.check_against(spec(num_blocks=5)) == "end 6 > num_blocks 5"
    model = spec().model_spec()
    assert (model.num_blocks, model.block_bytes, model.cache_bytes) == (30, 15_000_000, 1_572_864)


def test_lease_activity():
    lease = MovingLease(peer_id=PEER, since=100.0, until=130.0)
    assert lease.active(100.0) and lease.active(129.9)
    assert not lease.active(130.0)
    assert not MovingLease(peer_id=PEER, since=120.0, until=120.0).active(110.0)
