"""RPC metadata between clients and nodes, validated at the trust boundary.

Every message is a hivemind ``ExpertRequest``/``ExpertResponse`` whose ``metadata`` is a msgpack
dict. Requests are parsed into the pydantic models below; anything malformed becomes an
``RpcError(BAD_REQUEST)`` that the node sends back instead of raising, so bad input never kills a
node. Every error that reaches a client carries a code and a message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
MAX_SESSION_ID_LEN = 64


class ErrorCode(StrEnum):
    BUSY = "busy"  # no free cache slot; the reply carries the free-slot count
    BAD_REQUEST = "bad_request"  # malformed metadata, wrong shape/dtype, length out of range
    NOT_HOSTED = "not_hosted"  # the node does not host the blocks asked for
    DRAINING = "draining"  # the node is leaving and admits no new sessions
    INTERNAL = "internal"  # a bug or a resource failure on the node


class RpcError(Exception):
    """An error with a code, raised on the node and re-raised on the client from the reply."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        return {"error": {"code": self.code.value, "message": self.message, **self.details}}

    @classmethod
    def from_wire(cls, meta: dict[str, Any]) -> RpcError | None:
        """The error a reply carries, or None if it carries none."""
        err = meta.get("error") if isinstance(meta, dict) else None
        if err is None:
            return None
        if not isinstance(err, dict):
            return cls(ErrorCode.INTERNAL, f"unparseable error reply: {err!r}")
        try:
            code = ErrorCode(err.get("code"))
        except ValueError:
            code = ErrorCode.INTERNAL
        details = {k: v for k, v in err.items() if k not in ("code", "message")}
        return cls(code, str(err.get("message", "")), **details)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


SessionId = Annotated[str, Field(min_length=1, max_length=MAX_SESSION_ID_LEN)]
Block = Annotated[int, Field(ge=0, le=100_000)]


class OpenSession(_Message):
    """First message of ``rpc_inference``: reserve cache slots for blocks [start, end)."""

    type: Literal["open"]
    session_id: SessionId
    start: Block
    end: Block
    max_length: Annotated[int, Field(ge=1, le=1_000_000)]
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 1


MAX_PUSH_HOPS = 64


class PushTarget(_Message):
    """The next hop's session, for server-to-server push: its node, the client's session id there,
    and the step id the client expects that hop's reply under."""

    peer_id: Annotated[str, Field(min_length=1, max_length=128)]
    session_id: SessionId
    step_id: Annotated[int, Field(ge=0)]


class Step(_Message):
    """Hidden states for positions [position, position + T) of the session; carries one tensor.

    ``position`` lower than the tokens already cached rolls the cache back to it first (replay after
    a failover, or a client that discards tokens); higher is an error. With ``push_to``, the node
    also sends its output straight to ``push_to[0]`` (which passes it on to the rest), and its
    reply says whether that hop accepted it (``pushed``): the client then waits for the next hop's
    reply instead of relaying, which saves a client round trip per hop.
    """

    type: Literal["step"]
    step_id: Annotated[int, Field(ge=0)]
    position: Annotated[int, Field(ge=0)]
    push_to: Annotated[list[PushTarget], Field(max_length=MAX_PUSH_HOPS)] = []


class Push(_Message):
    """``rpc_push``, node to node: a step of session ``session_id`` opened by client ``owner``."""

    owner: Annotated[str, Field(min_length=1, max_length=128)]
    session_id: SessionId
    step_id: Annotated[int, Field(ge=0)]
    position: Annotated[int, Field(ge=0)]
    push_to: Annotated[list[PushTarget], Field(max_length=MAX_PUSH_HOPS)] = []

    def step(self) -> Step:
        return Step(type="step", step_id=self.step_id, position=self.position, push_to=self.push_to)


class Close(_Message):
    type: Literal["close"]


SessionMessage = Annotated[OpenSession | Step | Close, Field(discriminator="type")]
_session_message = TypeAdapter(SessionMessage)


class ForwardRequest(_Message):
    """``rpc_forward``: stateless pass of one tensor through blocks [start, end)."""

    start: Block
    end: Block


def parse_session_message(meta: Any) -> OpenSession | Step | Close:
    try:
        return _session_message.validate_python(meta)
    except ValidationError as e:
        raise RpcError(ErrorCode.BAD_REQUEST, f"malformed session message: {_brief(e)}") from None


def parse_push(meta: Any) -> Push:
    try:
        return Push.model_validate(meta)
    except ValidationError as e:
        raise RpcError(ErrorCode.BAD_REQUEST, f"malformed push: {_brief(e)}") from None


def parse_forward_request(meta: Any) -> ForwardRequest:
    try:
        return ForwardRequest.model_validate(meta)
    except ValidationError as e:
        raise RpcError(ErrorCode.BAD_REQUEST, f"malformed forward request: {_brief(e)}") from None


def _brief(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    return f"{where}: {first['msg']} ({e.error_count()} error(s))"
