"""Before the handshake completes: small frames only, handshake frames only, one frame buffered.

A peer that has not authenticated may send HELLO, AUTH and GOAWAY of at most
``HANDSHAKE_MAX_PAYLOAD`` bytes; anything else fails the connection with a ``ConnectionFailed``
event, and the receive buffer never holds more than one header plus that much.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_protocol import (
    HANDSHAKE_MAX_PAYLOAD,
    HEADER_LEN,
    MAGIC,
    PROTOCOL_VERSION,
    Connection,
    ConnectionFailed,
    ConnectionLimits,
    ConnectionState,
    Event,
    HandshakeCompleted,
    MessageReceived,
    Opcode,
    RequestReceived,
    Role,
    WireErrorCode,
)
from sa3p_protocol.messages import Hello, Ping, StatRequest, WriteChunkData, WriteOpenRequest

from .helpers import raw
from .strategies import splits

BOUND = HEADER_LEN + HANDSHAKE_MAX_PAYLOAD
CLIENT_HELLO = raw(
    0,
    Hello(
        version=PROTOCOL_VERSION,
        is_server=False,
        max_frame_payload=1 << 20,
        initial_stream_window=1 << 20,
        connection_window=1 << 20,
        max_open_streams=8,
        nonce=b"n" * 32,
    ),
)


def _header(stream_id: int, opcode: int, length: int) -> bytes:
    return struct.pack(">4sIBI", MAGIC, stream_id, opcode, length)


def _failure(events: Sequence[Event]) -> ConnectionFailed:
    assert isinstance(events[-1], ConnectionFailed), events
    return events[-1]


def _buffered(connection: Connection) -> int:
    return connection._codec.buffered_len


def test_a_large_frame_before_hello_fails_at_its_header() -> None:
    server = Connection(Role.SERVER, token=b"secret")
    events = server.receive_data(_header(0, Opcode.HELLO, HANDSHAKE_MAX_PAYLOAD + 1))
    failure = _failure(events)
    assert failure.code is WireErrorCode.FRAME_TOO_LARGE
    assert "before the handshake completed" in failure.message
    assert str(HANDSHAKE_MAX_PAYLOAD) in failure.message
    assert server.state is ConnectionState.CLOSED
    assert _buffered(server) <= HEADER_LEN
    assert b"before the handshake completed" in server.data_to_send()  # in the GOAWAY


def test_a_large_frame_between_hello_and_auth_fails_without_buffering_it() -> None:
    server = Connection(Role.SERVER, token=b"secret")
    assert server.receive_data(CLIENT_HELLO) == []
    header = _header(1, Opcode.VFS_WRITE_CHUNK, 1 << 20)
    events = server.receive_data(header + b"x" * 65536)
    assert _failure(events).code is WireErrorCode.FRAME_TOO_LARGE
    assert _buffered(server) <= HEADER_LEN
    assert server.receive_data(b"x" * 65536) == []


def test_small_non_handshake_frames_are_refused() -> None:
    for frame in (raw(0, Ping(1)), raw(1, StatRequest("a"))):
        server = Connection(Role.SERVER)
        events = server.receive_data(CLIENT_HELLO + frame)
        assert _failure(events).code is WireErrorCode.HANDSHAKE_FAILED
        assert not any(isinstance(event, HandshakeCompleted) for event in events)


def test_the_limit_is_never_above_the_connection_own_frame_limit() -> None:
    server = Connection(Role.SERVER, limits=ConnectionLimits(max_frame_payload=1024))
    events = server.receive_data(_header(0, Opcode.HELLO, 1025))
    assert _failure(events).code is WireErrorCode.FRAME_TOO_LARGE


def _client_ready_to_authenticate() -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, token=b"secret")
    server = Connection(Role.SERVER, token=b"secret")
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert client.state is ConnectionState.OPEN
    stream_id = client.open_stream(WriteOpenRequest("big"))
    client.send(stream_id, WriteChunkData(b"w" * 100_000))
    return client, server


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_large_frames_right_behind_auth_are_accepted(data: st.DataObject) -> None:
    # AUTH completes the handshake and so raises the limit for the frames behind it, even in
    # the same chunk.
    client, server = _client_ready_to_authenticate()
    events: list[Event] = []
    for piece in data.draw(splits(client.data_to_send())):
        events += server.receive_data(piece)
    assert [type(event) for event in events] == [
        HandshakeCompleted,
        RequestReceived,
        MessageReceived,
    ]


_HOSTILE_FRAMES = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from([*Opcode, 0x00, 0xFF]),
        st.integers(0, 1 << 21),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"", CLIENT_HELLO]),
    _HOSTILE_FRAMES,
    st.binary(max_size=64),
    st.data(),
)
def test_an_unauthenticated_peer_cannot_make_the_connection_buffer_more_than_one_small_frame(
    prefix: bytes,
    frames: list[tuple[int, int, int]],
    garbage: bytes,
    data: st.DataObject,
) -> None:
    server = Connection(Role.SERVER, token=b"secret")
    stream = prefix + b"".join(
        _header(stream_id, opcode, length) + b"\x00" * min(length, 6000)
        for stream_id, opcode, length in frames
    )
    for piece in data.draw(splits(stream + garbage)):
        events = server.receive_data(piece)  # never raises
        assert not any(isinstance(event, HandshakeCompleted) for event in events)
        assert _buffered(server) <= BOUND
    assert server.state is not ConnectionState.OPEN
