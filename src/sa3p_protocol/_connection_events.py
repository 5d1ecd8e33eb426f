"""What ``Connection.receive_data`` reports: one frozen value per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from sa3p_protocol._payload_codec import Message
from sa3p_protocol._wire_errors import WireErrorCode
from sa3p_protocol.messages import Hello


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeCompleted:
    """Both HELLOs (and, on the server, the client's AUTH) were accepted; streams may open.

    Attributes:
        peer: the peer's HELLO.
        features: the features both sides offered.
    """

    peer: Hello
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _MessageEvent:
    stream_id: int
    message: Message
    flow_length: int
    """Bytes counted against the receive windows until ``Connection.acknowledge``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived(_MessageEvent):
    """The peer opened ``stream_id`` with ``message``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(_MessageEvent):
    """A further message on an open stream (a reply, a write chunk, process input...)."""


_E = TypeVar("_E", bound=_MessageEvent)
_SET_STREAM_ID, _SET_MESSAGE, _SET_FLOW_LENGTH = (
    vars(_MessageEvent)[name].__set__ for name in ("stream_id", "message", "flow_length")
)


def message_event(cls: type[_E], stream_id: int, message: Message, flow_length: int) -> _E:
    """``cls(stream_id=stream_id, message=message, flow_length=flow_length)`` at a third of
    the cost, for the connection's per-frame path: in CPython 3.11 a keyword call to a class
    gathers its arguments in a dict. The fields have no checks to skip."""
    event = object.__new__(cls)
    _SET_STREAM_ID(event, stream_id)
    _SET_MESSAGE(event, message)
    _SET_FLOW_LENGTH(event, flow_length)
    return event


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The peer sent END: it will send nothing more on ``stream_id``."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamReset:
    """``stream_id`` was abandoned. ``remote``: the peer reset it (else we did, because the
    peer broke the stream's rules; the peer was told with a RESET carrying ``code``)."""

    stream_id: int
    code: WireErrorCode
    message: str
    remote: bool


@dataclass(frozen=True, slots=True)
class PingReceived:
    """The peer pinged; the PONG is already queued."""

    opaque: int


@dataclass(frozen=True, slots=True)
class PongReceived:
    opaque: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GoAwayReceived:
    """The peer will serve no stream of ours above ``last_stream_id``; streams above it were
    reset (reported before this event). A ``code`` other than NO_ERROR means it failed."""

    last_stream_id: int
    code: WireErrorCode
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionFailed:
    """The peer broke the protocol. A GOAWAY with ``code`` is queued; close the transport after
    sending ``data_to_send()``. Nothing further is processed."""

    code: WireErrorCode
    message: str
    stream_id: int | None = None


Event: TypeAlias = (
    HandshakeCompleted
    | RequestReceived
    | MessageReceived
    | StreamEnded
    | StreamReset
    | PingReceived
    | PongReceived
    | GoAwayReceived
    | ConnectionFailed
)
