"""The connection's and each stream's state machines, as tables (nothing else assigns state).

A pair missing from a table is not allowed: for a local action that is a ``UsageError``, for
something the peer sent it is a protocol error.
"""

from __future__ import annotations

import enum


class _HashedByIdentity(enum.Enum):
    """Members hash as the singletons they are, in C: ``Enum.__hash__`` is a Python function,
    and every frame sent or received looks its stream's state up in ``STREAM_TRANSITIONS``
    (equality is identity already, so nothing else changes)."""

    __hash__ = object.__hash__


class ConnectionState(_HashedByIdentity):
    AWAIT_HELLO = "await_hello"
    """Client: its HELLO sent, the server's awaited. Server: the client's HELLO awaited."""
    AWAIT_AUTH = "await_auth"
    """Server: its HELLO sent, the client's AUTH awaited."""
    OPEN = "open"
    CLOSING = "closing"
    """A GOAWAY went one way or the other: no new streams, existing ones finish."""
    CLOSED = "closed"
    """Failed (or refused in the handshake): nothing more is processed."""


class ConnectionInput(_HashedByIdentity):
    SERVER_HELLO_RECEIVED = "server_hello_received"
    CLIENT_HELLO_RECEIVED = "client_hello_received"
    AUTH_RECEIVED = "auth_received"
    GOAWAY_SENT = "goaway_sent"
    GOAWAY_RECEIVED = "goaway_received"
    FAILED = "failed"


_C = ConnectionState
_CI = ConnectionInput
CONNECTION_TRANSITIONS: dict[tuple[ConnectionState, ConnectionInput], ConnectionState] = {
    (_C.AWAIT_HELLO, _CI.SERVER_HELLO_RECEIVED): _C.OPEN,
    (_C.AWAIT_HELLO, _CI.CLIENT_HELLO_RECEIVED): _C.AWAIT_AUTH,
    (_C.AWAIT_AUTH, _CI.AUTH_RECEIVED): _C.OPEN,
    # A GOAWAY either way: during the handshake it ends the connection, after it new streams.
    **{
        (state, goaway): _C.CLOSED if state in (_C.AWAIT_HELLO, _C.AWAIT_AUTH) else _C.CLOSING
        for state in (_C.AWAIT_HELLO, _C.AWAIT_AUTH, _C.OPEN, _C.CLOSING)
        for goaway in (_CI.GOAWAY_SENT, _CI.GOAWAY_RECEIVED)
    },
    **{(state, _CI.FAILED): _C.CLOSED for state in ConnectionState},
}


class StreamState(_HashedByIdentity):
    OPEN = "open"
    LOCAL_ENDED = "local_ended"
    """We sent END; the peer may still send."""
    REMOTE_ENDED = "remote_ended"
    """The peer sent END; we may still send."""
    CLOSED = "closed"


class StreamInput(_HashedByIdentity):
    SEND = "send"
    SEND_END = "send_end"
    RECEIVE = "receive"
    RECEIVE_END = "receive_end"
    RESET = "reset"


_S = StreamState
_SI = StreamInput
STREAM_TRANSITIONS: dict[tuple[StreamState, StreamInput], StreamState] = {
    (_S.OPEN, _SI.SEND): _S.OPEN,
    (_S.OPEN, _SI.RECEIVE): _S.OPEN,
    (_S.OPEN, _SI.SEND_END): _S.LOCAL_ENDED,
    (_S.OPEN, _SI.RECEIVE_END): _S.REMOTE_ENDED,
    (_S.LOCAL_ENDED, _SI.RECEIVE): _S.LOCAL_ENDED,
    (_S.LOCAL_ENDED, _SI.RECEIVE_END): _S.CLOSED,
    (_S.REMOTE_ENDED, _SI.SEND): _S.REMOTE_ENDED,
    (_S.REMOTE_ENDED, _SI.SEND_END): _S.CLOSED,
    **{(state, _SI.RESET): _S.CLOSED for state in (_S.OPEN, _S.LOCAL_ENDED, _S.REMOTE_ENDED)},
}


def stream_transitions_on(step: StreamInput) -> dict[StreamState, StreamState]:
    """The column of ``STREAM_TRANSITIONS`` for one input, state to new state (a per-frame
    lookup by state alone)."""
    return {state: new for (state, given), new in STREAM_TRANSITIONS.items() if given is step}
