"""A state machine over a client/server pair: random interleavings of opening, data, END,
RESET, acknowledgements, partial delivery and pings. Windows never go negative, no side ever
sees a protocol violation, and within a stream nothing is lost, duplicated or reordered."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from sa3p_protocol import (
    Connection,
    ConnectionFailed,
    ConnectionLimits,
    ConnectionState,
    Event,
    MessageReceived,
    RequestReceived,
    Role,
    StreamReset,
    StreamState,
)
from sa3p_protocol.messages import ReadData, WriteChunkData, WriteOpenRequest

LIMITS = ConnectionLimits(
    max_frame_payload=1024, initial_stream_window=2048, connection_window=4096, max_open_streams=4
)
SENDABLE = (StreamState.OPEN, StreamState.REMOTE_ENDED)


class _Side:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.pipe = bytearray()  # bytes this side sent that the peer has not yet received
        self.sent: dict[int, list[bytes]] = defaultdict(list)
        self.received: dict[int, list[bytes]] = defaultdict(list)
        self.unacknowledged: list[tuple[int, int]] = []


class ConnectionPair(RuleBasedStateMachine):
    streams = Bundle("streams")

    def __init__(self) -> None:
        super().__init__()
        self.client = _Side(Connection(Role.CLIENT, limits=LIMITS))
        self.server = _Side(Connection(Role.SERVER, limits=LIMITS))
        self.reset: set[int] = set()
        self.counter = 0
        for _ in range(3):
            self._transmit(self.client, self.server, None)
            self._transmit(self.server, self.client, None)
        assert self.client.connection.state is ConnectionState.OPEN

    # ---- helpers ----

    def _payload(self, size: int) -> bytes:
        self.counter += 1
        return self.counter.to_bytes(4, "big") * (size // 4 + 1)

    def _transmit(self, sender: _Side, receiver: _Side, limit: int | None) -> None:
        sender.pipe += sender.connection.data_to_send(max_bytes=limit)
        cut = len(sender.pipe) if limit is None else min(len(sender.pipe), limit)
        chunk = bytes(sender.pipe[:cut])
        del sender.pipe[:cut]
        for event in receiver.connection.receive_data(chunk):
            self._record(receiver, event)

    def _record(self, side: _Side, event: Event) -> None:
        assert not isinstance(event, ConnectionFailed), event
        match event:
            case RequestReceived(stream_id=sid, flow_length=n):
                side.unacknowledged.append((sid, n))
            case MessageReceived(stream_id=sid, message=message, flow_length=n):
                assert isinstance(message, WriteChunkData | ReadData)
                side.received[sid].append(message.data)
                side.unacknowledged.append((sid, n))
            case StreamReset(stream_id=sid):
                self.reset.add(sid)
            case _:
                pass

    # ---- rules ----

    @precondition(lambda self: self.client.connection.can_open_stream())
    @rule(target=streams)
    def open_stream(self) -> int:
        return self.client.connection.open_stream(WriteOpenRequest("f"))

    @rule(stream_id=streams, size=st.integers(0, 1024))
    def client_sends(self, stream_id: int, size: int) -> None:
        connection = self.client.connection
        if (
            connection.stream_state(stream_id) in SENDABLE
            and connection.queued_bytes(stream_id) < 8192
        ):
            data = self._payload(size)[:size]
            connection.send(stream_id, WriteChunkData(data))
            self.client.sent[stream_id].append(data)

    @rule(stream_id=streams, size=st.integers(0, 1024))
    def server_sends(self, stream_id: int, size: int) -> None:
        connection = self.server.connection
        if (
            connection.stream_state(stream_id) in SENDABLE
            and connection.queued_bytes(stream_id) < 8192
        ):
            data = self._payload(size)[:size]
            connection.send(stream_id, ReadData(data))
            self.server.sent[stream_id].append(data)

    @rule(stream_id=streams, by_client=st.booleans())
    def end(self, stream_id: int, by_client: bool) -> None:
        connection = (self.client if by_client else self.server).connection
        if connection.stream_state(stream_id) in SENDABLE:
            connection.end_stream(stream_id)

    @rule(stream_id=streams, by_client=st.booleans())
    def reset_stream(self, stream_id: int, by_client: bool) -> None:
        connection = (self.client if by_client else self.server).connection
        if connection.stream_state(stream_id) is not StreamState.CLOSED:
            self.reset.add(stream_id)
        connection.reset_stream(stream_id)

    @rule(limit=st.none() | st.integers(1, 3000), to_server=st.booleans())
    def transmit(self, limit: int | None, to_server: bool) -> None:
        if to_server:
            self._transmit(self.client, self.server, limit)
        else:
            self._transmit(self.server, self.client, limit)

    @rule(count=st.integers(1, 8), client_side=st.booleans())
    def acknowledge(self, count: int, client_side: bool) -> None:
        side = self.client if client_side else self.server
        for stream_id, size in side.unacknowledged[:count]:
            side.connection.acknowledge(stream_id, size)
        del side.unacknowledged[:count]

    @rule(opaque=st.integers(0, 2**64 - 1))
    def ping(self, opaque: int) -> None:
        self.client.connection.ping(opaque)

    @rule()
    def drain_and_compare(self) -> None:
        for _ in range(200):
            self.acknowledge(10_000, True)
            self.acknowledge(10_000, False)
            self._transmit(self.client, self.server, None)
            self._transmit(self.server, self.client, None)
            if not (self.client.unacknowledged or self.server.unacknowledged or self._pending()):
                break
        for sender, receiver in ((self.client, self.server), (self.server, self.client)):
            for stream_id, sent in sender.sent.items():
                if stream_id not in self.reset:
                    assert receiver.received[stream_id] == sent, stream_id

    def _pending(self) -> bool:
        return any(
            side.pipe or side.connection.queued_bytes(sid)
            for side in (self.client, self.server)
            for sid in side.connection.open_stream_ids
        )

    # ---- invariants ----

    @invariant()
    def windows_never_negative(self) -> None:
        for side in (self.client, self.server):
            connection = side.connection
            assert connection._scheduler.connection_window >= 0
            assert connection._receive.available >= 0
            for record in connection._streams.values():
                assert record.send_window >= 0
                assert record.receive.available >= 0

    @invariant()
    def nothing_lost_or_reordered_so_far(self) -> None:
        for sender, receiver in ((self.client, self.server), (self.server, self.client)):
            for stream_id, received in receiver.received.items():
                sent = sender.sent[stream_id]
                assert received == sent[: len(received)], stream_id

    @invariant()
    def no_failure(self) -> None:
        assert self.client.connection.state is not ConnectionState.CLOSED
        assert self.server.connection.state is not ConnectionState.CLOSED


ConnectionPair.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestConnectionPair = ConnectionPair.TestCase
