"""Typed records of the swarm's shared state, validated where they cross the trust boundary.

Every value another peer wrote is untrusted: ``from_wire`` checks it (schema version, types,
ranges, string lengths) and raises :class:`RecordError` with a one-line reason, which readers log
before dropping the record. Locally built records are validated the same way at construction
(pydantic's ``ValidationError``, a ``ValueError``) and by ``replace`` (``RecordError``), so a
node cannot announce what its peers would reject.

Wire format: a dict of plain msgpack types (str, int, float, bool, None, list, dict) keyed by
field name, with ``schema_version``. Readers ignore names they do not know, so a new optional
field (one with a default) needs no version bump; changing the meaning of an existing field
does. Named fields rather than positional tuples: records are a few hundred bytes, and names let
the monitor and old readers cope with additions without a table of positions.

Units: bytes for memory, seconds for times, DHT time (``hivemind.utils.get_dht_time``, Unix
seconds) for instants. Names follow the paper (§1): ``block_bytes`` = s_m, ``cache_bytes`` = s_c,
``memory_bytes`` = M_j, ``comm_time_s`` = τ^c_j, ``block_time_s`` = τ^p_j.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chainswarm.placement.specs import ModelSpec, ServerSpec, Span

SCHEMA_VERSION = 1
"""Version of every record's wire format; a reader rejects records of any other version."""

MAX_BLOCKS = 10_000
"""Upper bound on L that any record may claim; real models have at most a few hundred blocks."""

MAX_MADDRS = 16
"""Multiaddrs a node may list; more is a sign of a broken or hostile record."""

_BASE58 = r"^[1-9A-HJ-NP-Za-km-z]+$"
_CLIENT_ID = r"^[A-Za-z0-9._:-]+$"
Seconds = Annotated[float, Field(ge=0.0)]
"""A non-negative, finite duration in seconds."""
DhtTime = Annotated[float, Field(ge=0.0)]
"""An instant in DHT time (Unix seconds)."""


class RecordError(ValueError):
    """A record that fails validation; the message says which field and why."""


class NodeState(StrEnum):
    """Lifecycle of a node as announced: loading its blocks, serving, finishing sessions, gone."""

    JOINING = "joining"
    ONLINE = "online"
    DRAINING = "draining"
    OFFLINE = "offline"


class _Record(BaseModel):
    """Shared validation and the wire conversion of every record."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", allow_inf_nan=False)

    schema_version: int = SCHEMA_VERSION

    def to_wire(self) -> dict[str, Any]:
        """Plain msgpack types only (enums as strings, tuples as lists)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_wire(cls, value: object) -> Self:
        """Parse an untrusted value; raise :class:`RecordError` with the reason if it is invalid."""
        if not isinstance(value, dict):
            raise RecordError(f"{cls.__name__}: expected a dict, got {type(value).__name__}")
        version = value.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(
                f"{cls.__name__}: schema version {_short(version)}, this reader understands {SCHEMA_VERSION}"
            )
        try:
            return cls.model_validate(value)
        except ValidationError as e:
            raise RecordError(f"{cls.__name__}: {_describe(e)}") from None

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated again (pydantic's model_copy skips checks)."""
        try:
            return type(self).model_validate({**dict(self), **changes})
        except ValidationError as e:
            raise RecordError(f"{type(self).__name__}: {_describe(e)}") from None

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema version {version}, this reader understands {SCHEMA_VERSION}")
        return version


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(error: ValidationError) -> str:
    """First problem as 'field: message', never the offending input (it may be huge)."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "record"
    more = error.error_count() - 1
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" + (f" (and {more} more)" if more else "")


def _as_tuple(value: object) -> object:
    """msgpack gives lists; records hold tuples so that they stay immutable."""
    return tuple(value) if isinstance(value, list) else value


class NodeRecord(_Record):
    """What a node announces under ``{prefix}.nodes`` with its peer id as the subkey.

    It hosts blocks ``[start, end)``; ``cache_slots_total`` = ⌊(M − s_m·m)/s_c⌋ block-slots, of
    which ``cache_slots_free`` are not held by sessions; ``c_reserved`` is the c* it sized them for.
    ``block_time_s`` is τ^p_j per job per block, derived from the measured ``prefill_s_per_token``
    and ``decode_s_per_step`` (both per block). ``decode_s_per_step`` is a job's step while the
    node runs its full c jobs at once (batched, or one after another without batching);
    ``decode_s_per_step_alone`` is the step of a session decoding alone, and ``throughput`` the
    tokens/s of c sessions together. ``comm_time_s`` is the node's own τ^c estimate if it has one
    (clients use their measured round-trip times instead).
    """

    peer_id: str = Field(min_length=1, max_length=128, pattern=_BASE58)
    state: NodeState
    start: int = Field(ge=0, lt=MAX_BLOCKS)
    end: int = Field(gt=0, le=MAX_BLOCKS)
    memory_bytes: int = Field(ge=0)
    block_bytes: int = Field(gt=0)
    cache_slots_total: int = Field(ge=0)
    cache_slots_free: int = Field(ge=0)
    block_time_s: Seconds
    prefill_s_per_token: Seconds
    decode_s_per_step: Seconds
    c_reserved: int = Field(ge=0)
    dtype: str = Field(min_length=1, max_length=32)
    device: str = Field(min_length=1, max_length=64)
    throughput: float = Field(ge=0.0)
    version: str = Field(max_length=64)
    announced_at: DhtTime
    comm_time_s: float | None = Field(default=None, ge=0.0)
    decode_s_per_step_alone: float | None = Field(default=None, ge=0.0)
    public_name: str = Field(default="", max_length=64)
    maddrs: tuple[str, ...] = Field(default=(), max_length=MAX_MADDRS)

    @field_validator("state", mode="before")
    @classmethod
    def _state_from_wire(cls, value: object) -> object:
        return NodeState(value) if type(value) is str else value

    @field_validator("maddrs", mode="before")
    @classmethod
    def _maddrs_from_wire(cls, value: object) -> object:
        return _as_tuple(value)

    @field_validator("maddrs")
    @classmethod
    def _maddrs_bounded(cls, maddrs: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(m) > 256 or not m.startswith("/") for m in maddrs):
            raise ValueError("each maddr must start with '/' and have at most 256 characters")
        return maddrs

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be < end {self.end}")
        if self.cache_slots_free > self.cache_slots_total:
            raise ValueError(
                f"cache_slots_free {self.cache_slots_free} > cache_slots_total {self.cache_slots_total}"
            )
        return self

    @property
    def span(self) -> Span:
        """The hosted blocks as a placement span."""
        return Span(self.start, self.end - self.start)

    @property
    def num_blocks(self) -> int:
        """m_j, the number of hosted blocks."""
        return self.end - self.start

    def server_spec(self, comm_time_s: float | None = None) -> ServerSpec:
        """This node as the paper's server j; ``comm_time_s`` overrides the announced τ^c."""
        comm = comm_time_s if comm_time_s is not None else (self.comm_time_s or 0.0)
        return ServerSpec(self.peer_id, self.memory_bytes, comm, self.block_time_s)

    def check_against(self, spec: SwarmSpec) -> str | None:
        """Why this record does not fit the swarm's constants, or None if it does."""
        if self.end > spec.num_blocks:
            return f"end {self.end} > num_blocks {spec.num_blocks}"
        return None


class SwarmSpec(_Record):
    """The constants every node of one model's swarm must share (L, s_m, s_c and what fixes them).

    Every node re-announces it under ``{prefix}.spec`` (subkey: its peer id); a node whose own
    constants differ refuses to join with :meth:`mismatch`'s message.
    """

    model_id: str = Field(min_length=1, max_length=256)
    num_blocks: int = Field(ge=1, le=MAX_BLOCKS)
    dtype: str = Field(min_length=1, max_length=32)
    max_length: int = Field(ge=1, le=10_000_000)
    block_bytes: int = Field(gt=0)
    cache_bytes: int = Field(gt=0)

    def mismatch(self, other: SwarmSpec) -> str | None:
        """None when equal; otherwise every differing field as 'name: ours != theirs' ('ours' = self)."""
        diffs = [
            f"{name}: {getattr(self, name)!r} != {getattr(other, name)!r}"
            for name in type(self).model_fields
            if getattr(self, name) != getattr(other, name)
        ]
        return "; ".join(diffs) or None

    def model_spec(self) -> ModelSpec:
        """The paper's model (L, s_m, s_c) in bytes, for ``placement``."""
        return ModelSpec(self.num_blocks, self.block_bytes, self.cache_bytes)


class LoadRecord(_Record):
    """A client's recent demand under ``{prefix}.load`` (subkey: client id): λ in requests/s,
    averaged over the last ``window_s`` seconds, as of ``updated_at`` (DHT time)."""

    client_id: str = Field(min_length=1, max_length=128, pattern=_CLIENT_ID)
    arrival_rate: float = Field(ge=0.0, le=1e6)
    window_s: float = Field(gt=0.0)
    updated_at: DhtTime


class MovingLease(_Record):
    """A claim on the swarm's rebalancing lease (DESIGN.md, Decentralized placement item 6):
    ``peer_id`` claims it from ``since`` until ``until`` (DHT time); ``until <= since`` is a release."""

    peer_id: str = Field(min_length=1, max_length=128, pattern=_BASE58)
    since: DhtTime
    until: DhtTime

    def active(self, now: float) -> bool:
        """Whether the claim still holds at ``now`` (DHT time)."""
        return self.since < self.until and now < self.until
