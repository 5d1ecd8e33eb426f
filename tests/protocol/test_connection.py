"""The Sans-IO Connection: handshake, streams, flow control, fairness, limits."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_protocol import (
    MAGIC,
    PROTOCOL_VERSION,
    Connection,
    ConnectionFailed,
    ConnectionLimits,
    ConnectionState,
    GoAwayReceived,
    HandshakeCompleted,
    MessageReceived,
    Opcode,
    PingReceived,
    PongReceived,
    RequestReceived,
    Role,
    StreamEnded,
    StreamReset,
    StreamState,
    UsageError,
    WireErrorCode,
)
from sa3p_protocol._connection_events import message_event
from sa3p_protocol.messages import (
    Auth,
    End,
    ErrorReply,
    GoAway,
    Hello,
    Ping,
    PtyInput,
    SpawnRequest,
    StatReply,
    StatRequest,
    WriteChunkData,
    WriteOpenRequest,
)

from .helpers import connected_pair, exchange, raw

SMALL = ConnectionLimits(max_frame_payload=1024, initial_stream_window=4096, connection_window=8192)


def _hello(**overrides: object) -> Hello:
    values: dict[str, object] = {
        "version": PROTOCOL_VERSION,
        "is_server": False,
        "max_frame_payload": 4096,
        "initial_stream_window": 4096,
        "connection_window": 65536,
        "max_open_streams": 8,
        "nonce": b"n" * 32,
    }
    values.update(overrides)
    return Hello(**values)  # type: ignore[arg-type]


def _failure(events: Sequence[object]) -> ConnectionFailed:
    failures = [event for event in events if isinstance(event, ConnectionFailed)]
    assert len(failures) == 1, events
    assert events[-1] is failures[0]
    return failures[0]


# ---- handshake ----------------------------------------------------------------------------


def test_handshake_without_token_negotiates_features() -> None:
    client, server = connected_pair()
    assert client.state is server.state is ConnectionState.OPEN
    assert client.features == server.features == ("replay",)
    assert (
        client.max_send_payload == server.max_send_payload == ConnectionLimits().max_frame_payload
    )


def test_handshake_with_matching_token_never_sends_the_token() -> None:
    token = b"s3cret-token-value"
    client = Connection(Role.CLIENT, token=token)
    server = Connection(Role.SERVER, token=token)
    wire = bytearray()
    for _ in range(3):
        data = client.data_to_send()
        wire += data
        server.receive_data(data)
        data = server.data_to_send()
        wire += data
        client.receive_data(data)
    assert client.state is server.state is ConnectionState.OPEN
    assert token not in wire


@pytest.mark.parametrize(
    ("client_token", "server_token", "code"),
    [
        (b"wrong", b"right", WireErrorCode.AUTH_FAILED),
        (None, b"right", WireErrorCode.AUTH_FAILED),
        (b"right", None, WireErrorCode.AUTH_FAILED),
    ],
)
def test_handshake_refuses_a_side_that_cannot_prove_the_token(
    client_token: bytes | None, server_token: bytes | None, code: WireErrorCode
) -> None:
    client = Connection(Role.CLIENT, token=client_token)
    server = Connection(Role.SERVER, token=server_token)
    client_events, server_events = exchange(client, server)
    assert _failure(client_events).code is code
    assert any(isinstance(e, GoAwayReceived) and e.code is code for e in server_events)
    assert not any(isinstance(e, HandshakeCompleted) for e in server_events)
    assert client.state is ConnectionState.CLOSED


def test_server_refuses_a_wrong_client_proof_and_serves_nothing() -> None:
    server = Connection(Role.SERVER, token=b"right")
    events = server.receive_data(raw(0, _hello()))
    assert events == []
    events = server.receive_data(raw(0, Auth(b"x" * 32)) + raw(1, StatRequest("a")))
    assert _failure(events).code is WireErrorCode.AUTH_FAILED
    assert server.state is ConnectionState.CLOSED
    assert server.data_to_send().count(MAGIC) == 2  # the server's HELLO, then GOAWAY
    assert server.receive_data(raw(1, StatRequest("a"))) == []


@pytest.mark.parametrize(
    ("hello", "code"),
    [
        (_hello(version=PROTOCOL_VERSION + 1), WireErrorCode.UNSUPPORTED_VERSION),
        (_hello(is_server=True), WireErrorCode.HANDSHAKE_FAILED),
        (_hello(nonce=b"short"), WireErrorCode.HANDSHAKE_FAILED),
        (_hello(initial_stream_window=100), WireErrorCode.HANDSHAKE_FAILED),
        (_hello(max_open_streams=0), WireErrorCode.HANDSHAKE_FAILED),
    ],
)
def test_bad_hello_is_refused(hello: Hello, code: WireErrorCode) -> None:
    server = Connection(Role.SERVER)
    assert _failure(server.receive_data(raw(0, hello))).code is code


def test_stream_frames_before_the_handshake_fail() -> None:
    server = Connection(Role.SERVER)
    events = server.receive_data(raw(1, StatRequest("a")))
    assert _failure(events).code is WireErrorCode.HANDSHAKE_FAILED
    with pytest.raises(UsageError):
        Connection(Role.CLIENT).open_stream(StatRequest("a"))


# ---- streams -------------------------------------------------------------------------------


def test_request_and_reply_close_the_stream_on_both_sides() -> None:
    client, server = connected_pair()
    stream_id = client.open_stream(StatRequest("src/a.py"), end_stream=True)
    assert stream_id == 1
    _, server_events = exchange(client, server)
    assert server_events == [
        RequestReceived(stream_id=1, message=StatRequest("src/a.py"), flow_length=12),
        StreamEnded(1),
    ]
    reply = StatReply(path="src/a.py", is_directory=False, size=3, mtime=2.5)
    server.send(1, reply, end_stream=True)
    client_events, _ = exchange(client, server)
    assert [type(e) for e in client_events] == [MessageReceived, StreamEnded]
    assert client_events[0].message == reply  # type: ignore[union-attr]
    assert client.open_stream_ids == server.open_stream_ids == []
    assert client.stream_state(1) is StreamState.CLOSED
    assert client.open_stream(StatRequest("b")) == 3


def test_a_failed_request_gets_a_typed_error_then_end() -> None:
    client, server = connected_pair()
    stream_id = client.open_stream(StatRequest("missing.txt"), end_stream=True)
    exchange(client, server)
    server.send_error(
        stream_id, WireErrorCode.NOT_FOUND, "no such file: missing.txt", (("path", "missing.txt"),)
    )
    client_events, _ = exchange(client, server)
    reply = client_events[0]
    assert isinstance(reply, MessageReceived) and isinstance(reply.message, ErrorReply)
    assert reply.message.code is WireErrorCode.NOT_FOUND
    assert reply.message.detail("path") == "missing.txt"
    assert client_events[1] == StreamEnded(stream_id)
    assert client.open_stream_ids == server.open_stream_ids == []


def test_usage_errors() -> None:
    client, _ = connected_pair(server_limits=SMALL)
    with pytest.raises(UsageError):
        client.send(99, StatRequest("a"))
    stream_id = client.open_stream(WriteOpenRequest("f"))
    with pytest.raises(UsageError):
        client.send(stream_id, Ping(1))
    with pytest.raises(UsageError):
        client.send(stream_id, WriteChunkData(b"x" * 1025))
    with pytest.raises(UsageError):
        client.open_stream(WriteChunkData(b"x"))
    client.end_stream(stream_id)
    with pytest.raises(UsageError):
        client.send(stream_id, WriteChunkData(b"x"))


def test_peer_reset_drops_queued_frames_and_later_frames_are_ignored() -> None:
    client, server = connected_pair()
    stream_id = client.open_stream(WriteOpenRequest("f"))
    exchange(client, server)
    server.reset_stream(stream_id, WireErrorCode.PERMISSION_DENIED, "read-only: f")
    client.send(stream_id, WriteChunkData(b"late"))  # crosses the RESET in flight
    client_events, server_events = exchange(client, server)
    assert client_events == [
        StreamReset(
            stream_id=1, code=WireErrorCode.PERMISSION_DENIED, message="read-only: f", remote=True
        )
    ]
    assert server_events == []
    assert client.open_stream_ids == server.open_stream_ids == []


def test_a_reset_crossing_both_ends_drops_the_last_queued_frames() -> None:
    # The server's stream is closed (END received, its own END queued, not yet sent) when the
    # client's RESET arrives: nothing is left to report, the queued END is dropped.
    client, server = connected_pair()
    stream_id = client.open_stream(WriteOpenRequest("f"), end_stream=True)
    exchange(client, server)
    server.end_stream(stream_id)
    assert server.stream_state(stream_id) is StreamState.CLOSED
    client.reset_stream(stream_id)
    assert server.receive_data(client.data_to_send()) == []
    assert server.open_stream_ids == [] and server.data_to_send() == b""
    assert server.state is ConnectionState.OPEN


def test_a_goaway_after_both_ends_leaves_the_closed_stream_alone() -> None:
    client, server = connected_pair()
    stream_id = client.open_stream(WriteOpenRequest("f"))
    exchange(client, server)
    server.end_stream(stream_id)
    exchange(client, server)
    client.end_stream(stream_id)  # closed here, its END still queued
    events = client.receive_data(raw(0, GoAway(0, WireErrorCode.NO_ERROR)))
    assert events == [GoAwayReceived(last_stream_id=0, code=WireErrorCode.NO_ERROR, message="")]
    assert client.open_stream_ids == [] and client.data_to_send() == b""


def test_malformed_payload_resets_only_that_stream() -> None:
    client, server = connected_pair()
    stream_id = client.open_stream(WriteOpenRequest("f"))
    exchange(client, server)
    bad_commit = struct.pack(">4sIBI", MAGIC, stream_id, Opcode.VFS_WRITE_COMMIT, 2) + b"\x00\x00"
    events = server.receive_data(bad_commit)
    assert len(events) == 1 and isinstance(events[0], StreamReset)
    assert events[0].code is WireErrorCode.MALFORMED_PAYLOAD and not events[0].remote
    assert "0x07" in events[0].message
    client_events, _ = exchange(client, server)
    assert [type(e) for e in client_events] == [StreamReset]
    assert client_events[0].remote  # type: ignore[union-attr]
    assert server.state is ConnectionState.OPEN
    client.open_stream(StatRequest("ok"), end_stream=True)
    _, server_events = exchange(client, server)
    assert isinstance(server_events[0], RequestReceived)


def test_frame_after_end_resets_the_stream() -> None:
    _, server = connected_pair()
    events = server.receive_data(
        raw(1, StatRequest("a")) + raw(1, WriteChunkData(b"")) + raw(1, Ping(0))[:0]
    )
    assert isinstance(events[0], RequestReceived)
    events = server.receive_data(raw(1, _end()) + raw(1, WriteChunkData(b"x")))
    assert events[0] == StreamEnded(1)
    assert isinstance(events[1], StreamReset) and events[1].code is WireErrorCode.STREAM_CLOSED


def _end() -> End:
    return End()


def test_ping_pong() -> None:
    client, server = connected_pair()
    client.ping(42)
    client_events, server_events = exchange(client, server)
    assert server_events == [PingReceived(42)]
    assert client_events == [PongReceived(42)]


def test_goaway_stops_new_streams_and_resets_unserved_ones() -> None:
    client, server = connected_pair()
    first = client.open_stream(StatRequest("a"), end_stream=True)
    exchange(client, server)
    server.close(WireErrorCode.SHUTTING_DOWN, "guest stopping")
    second = client.open_stream(StatRequest("b"), end_stream=True)  # crosses the GOAWAY
    client_events, server_events = exchange(client, server)
    assert server_events == []
    assert [type(e) for e in client_events] == [StreamReset, GoAwayReceived]
    assert client_events[0].stream_id == second  # type: ignore[union-attr]
    assert client_events[1] == GoAwayReceived(
        last_stream_id=first, code=WireErrorCode.SHUTTING_DOWN, message="guest stopping"
    )
    assert not client.can_open_stream()
    server.send(first, StatReply(path="a", is_directory=False, size=1, mtime=0.0), end_stream=True)
    client_events, _ = exchange(client, server)
    assert [type(e) for e in client_events] == [MessageReceived, StreamEnded]


# ---- flow control and fairness ---------------------------------------------------------------


def test_slow_reader_stalls_the_sender_and_nothing_is_lost() -> None:
    client, server = connected_pair(server_limits=SMALL)
    stream_id = client.open_stream(WriteOpenRequest("big"))
    chunks = [bytes([n]) * 1000 for n in range(20)]
    for chunk in chunks:
        client.send(stream_id, WriteChunkData(chunk))
    received: list[bytes] = []
    held: list[MessageReceived] = []
    for _ in range(5):  # the server reads but does not acknowledge
        for event in server.receive_data(client.data_to_send()):
            if isinstance(event, MessageReceived):
                held.append(event)
                received.append(event.message.data)  # type: ignore[attr-defined]
    assert sum(map(len, received)) <= SMALL.initial_stream_window
    assert client.data_to_send() == b""
    assert client.send_window(stream_id) == 0
    for event in held:
        server.acknowledge(event.stream_id, event.flow_length)
    for _ in range(40):
        client.receive_data(server.data_to_send())
        for event in server.receive_data(client.data_to_send()):
            if isinstance(event, MessageReceived):
                received.append(event.message.data)  # type: ignore[attr-defined]
                server.acknowledge(event.stream_id, event.flow_length)
    assert received == chunks


def test_round_robin_lets_pty_input_overtake_a_bulk_write() -> None:
    client, server = connected_pair()
    write = client.open_stream(WriteOpenRequest("big"))
    for _ in range(50):
        client.send(write, WriteChunkData(b"w" * 8192))
    pty = client.open_stream(SpawnRequest(command="sh", use_pty=True))
    client.send(pty, PtyInput(b"ls\n"))
    first_batch = client.data_to_send(max_bytes=32 * 1024)
    events = server.receive_data(first_batch)
    pty_events = [e for e in events if getattr(e, "stream_id", None) == pty]
    assert len(pty_events) == 2  # spawn and input got through in the first 32 KiB
    assert len(first_batch) < 50 * 8192 // 4


def test_acknowledging_more_than_received_is_a_usage_error() -> None:
    client, _ = connected_pair()
    with pytest.raises(UsageError):
        client.acknowledge(1, 10)


# ---- limits --------------------------------------------------------------------------------


def test_oversized_header_fails_the_connection_at_header_time() -> None:
    _, server = connected_pair(server_limits=SMALL)
    header = struct.pack(">4sIBI", MAGIC, 1, Opcode.VFS_WRITE_CHUNK, SMALL.max_frame_payload + 1)
    events = server.receive_data(header)
    assert _failure(events).code is WireErrorCode.FRAME_TOO_LARGE
    assert server.state is ConnectionState.CLOSED
    assert b"exceeds the limit" in server.data_to_send()


def test_bad_magic_fails_the_connection() -> None:
    _, server = connected_pair()
    events = server.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert _failure(events).code is WireErrorCode.INVALID_MAGIC


def test_stream_flood_fails_the_connection() -> None:
    limits = ConnectionLimits(max_open_streams=3)
    client, server = connected_pair(server_limits=limits)
    for _ in range(3):
        client.open_stream(StatRequest("a"))
    assert not client.can_open_stream()
    with pytest.raises(UsageError):
        client.open_stream(StatRequest("a"))
    exchange(client, server)
    events = server.receive_data(raw(7, StatRequest("flood")))
    assert _failure(events).code is WireErrorCode.STREAM_LIMIT


def test_ping_flood_without_reading_fails_the_connection() -> None:
    limits = ConnectionLimits(max_pending_control=50)
    _, server = connected_pair(server_limits=limits)
    events = server.receive_data(raw(0, Ping(1)) * 60)
    assert _failure(events).code is WireErrorCode.CONTROL_FLOOD


def test_control_burst_fails_the_connection_even_when_read() -> None:
    limits = ConnectionLimits(max_control_burst=100)
    _, server = connected_pair(server_limits=limits)
    events: list[object] = []
    for _ in range(120):
        events += server.receive_data(raw(0, Ping(1)))
        server.data_to_send()
    assert _failure(events).code is WireErrorCode.CONTROL_FLOOD


def test_window_overrun_is_a_flow_control_error() -> None:
    _, server = connected_pair(server_limits=SMALL)
    data = raw(1, WriteOpenRequest("f")) + raw(1, WriteChunkData(b"x" * 1000)) * 5
    events = server.receive_data(data)
    assert _failure(events).code is WireErrorCode.FLOW_CONTROL


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_receive_data_never_raises(garbage: bytes) -> None:
    _, server = connected_pair()
    prefix = raw(1, StatRequest("a"))
    events = server.receive_data(prefix + garbage)
    assert all(not isinstance(e, ConnectionFailed) for e in events[:-1])
    server.data_to_send()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(list(Opcode)), max_size=20), st.binary(max_size=40))
def test_fuzz_valid_headers_with_random_payloads_never_raise(
    opcodes: list[Opcode], payload: bytes
) -> None:
    _, server = connected_pair()
    data = b"".join(
        struct.pack(">4sIBI", MAGIC, index % 3, opcode, len(payload)) + payload
        for index, opcode in enumerate(opcodes)
    )
    server.receive_data(data)
    server.data_to_send()


def test_message_events_built_on_the_hot_path_equal_constructed_ones() -> None:
    message = StatRequest("a")
    for cls in (RequestReceived, MessageReceived):
        event = message_event(cls, 3, message, 9)
        assert type(event) is cls
        assert event == cls(stream_id=3, message=message, flow_length=9)
        with pytest.raises(AttributeError):
            event.flow_length = 1  # type: ignore[misc]


def test_limits_keep_windows_at_least_one_frame_wide() -> None:
    with pytest.raises(ValueError):
        ConnectionLimits(max_frame_payload=4096, initial_stream_window=1024)
    with pytest.raises(ValueError):
        ConnectionLimits(max_frame_payload=100)
    with pytest.raises(ValueError):
        ConnectionLimits(max_open_streams=0)


def test_chunk_boundaries_of_received_bytes_carry_no_meaning() -> None:
    client, server = connected_pair()
    stream_id = client.open_stream(WriteOpenRequest("f"))
    for n in range(5):
        client.send(stream_id, WriteChunkData(bytes([n]) * 300))
    client.end_stream(stream_id)
    data = client.data_to_send()
    events = [
        event
        for index in range(len(data))
        for event in server.receive_data(data[index : index + 1])
    ]
    assert [type(e) for e in events] == [RequestReceived] + [MessageReceived] * 5 + [StreamEnded]
