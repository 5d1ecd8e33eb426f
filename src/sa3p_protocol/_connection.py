"""The Sans-IO connection both ends use (h2-style): bytes in, events out, bytes to send.

``receive_data(bytes) -> list[Event]`` and ``data_to_send() -> bytes``; methods to open
streams, send messages, end, reset, acknowledge and ping. No sockets, no clock, no logging.
Frames the peer gets wrong become events (``StreamReset``, ``ConnectionFailed``), never
exceptions; ``UsageError`` is raised only for local misuse. Until the handshake completes only
HELLO, AUTH and GOAWAY of at most ``HANDSHAKE_MAX_PAYLOAD`` bytes are accepted, and received
bytes are taken one frame at a time, so a peer that has not authenticated can make the
connection buffer one small frame at most (docs/PROTOCOL.md §3, "Before the handshake").
"""

from __future__ import annotations

from collections import deque

from sa3p_protocol._connection_events import (
    ConnectionFailed,
    Event,
    GoAwayReceived,
    HandshakeCompleted,
    MessageReceived,
    PingReceived,
    PongReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
    message_event,
)
from sa3p_protocol._flow_control import ReceiveWindow, SendScheduler, StreamRecord
from sa3p_protocol._frames import (
    CONTROL_OPCODES,
    STREAM_OPENING_OPCODES,
    Frame,
    FrameCodec,
    FrameFields,
    Opcode,
)
from sa3p_protocol._handshake import (
    HANDSHAKE_MAX_PAYLOAD,
    MAX_WINDOW,
    ConnectionLimits,
    Handshake,
    Role,
    before_handshake,
    said_of_the_handshake,
)
from sa3p_protocol._payload_codec import Message, decode_message, encode_message, message_frame
from sa3p_protocol._stream_table import StreamTable
from sa3p_protocol._transitions import (
    CONNECTION_TRANSITIONS,
    STREAM_TRANSITIONS,
    ConnectionInput,
    ConnectionState,
    StreamInput,
    StreamState,
    stream_transitions_on,
)
from sa3p_protocol._wire_errors import (
    MalformedPayload,
    PayloadTooLarge,
    ProtocolError,
    UsageError,
    WireErrorCode,
)
from sa3p_protocol.messages import Auth, ErrorReply, GoAway, Hello, Ping, Pong, Reset, WindowUpdate

_HANDSHAKE_STATES = (ConnectionState.AWAIT_HELLO, ConnectionState.AWAIT_AUTH)
_SENDING_STATES = (ConnectionState.OPEN, ConnectionState.CLOSING)
_RECEIVING_STATES = (StreamState.OPEN, StreamState.LOCAL_ENDED)
_CONNECTION_ONLY = CONTROL_OPCODES - {Opcode.RESET, Opcode.END}
_STREAM_FRAME_OPCODES = frozenset(Opcode) - CONTROL_OPCODES | {Opcode.END}
"""Requests, replies and END: the frames a stream's state machine and windows take."""
# Members used per frame, bound once: in CPython 3.11 ``Opcode.END`` and the like go through
# the enum metaclass's ``__getattr__`` hook, which costs as much as a function call.
_CONNECTION_OPEN, _CONNECTION_CLOSED = ConnectionState.OPEN, ConnectionState.CLOSED
_STREAM_CLOSED = StreamState.CLOSED
_SEND, _SEND_END = StreamInput.SEND, StreamInput.SEND_END
_AFTER_RECEIVE = stream_transitions_on(StreamInput.RECEIVE)
_AFTER_RECEIVE_END = stream_transitions_on(StreamInput.RECEIVE_END)
_END = Opcode.END


class Connection:
    """One end of a connection. Client streams have odd ids, server streams even ones.

    Args:
        role: client or server. A client queues its HELLO at once.
        limits: what this side accepts (announced in HELLO).
        token: the shared secret for the challenge-response, or None.
        features: optional capabilities offered; ``features`` after the handshake holds the
            ones both sides offered.
        nonce: the 32-byte handshake nonce (random by default; fixed ones are for tests).
    """

    def __init__(
        self,
        role: Role,
        *,
        limits: ConnectionLimits | None = None,
        token: bytes | None = None,
        features: tuple[str, ...] = (),
        nonce: bytes | None = None,
    ) -> None:
        self.role = role
        self.limits = limits or ConnectionLimits()
        self._handshake = Handshake(role, self.limits, token, features, nonce)
        self._state = ConnectionState.AWAIT_HELLO
        self._codec = FrameCodec(min(HANDSHAKE_MAX_PAYLOAD, self.limits.max_frame_payload))
        self._control: deque[Frame] = deque()
        self._scheduler = SendScheduler()
        self._table = StreamTable(role, self.limits)
        self._streams = self._table.records
        self._receive = ReceiveWindow(self.limits.connection_window, self.limits.max_frame_payload)
        self._peer: Hello | None = None
        self.features: tuple[str, ...] = ()
        self._burst = 0
        if role is Role.CLIENT:
            self._queue_control(0, self._handshake.hello())

    # ---- properties ------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def peer_hello(self) -> Hello | None:
        """The peer's HELLO once received."""
        return self._peer

    @property
    def max_send_payload(self) -> int:
        """The largest payload the peer accepts (0 before its HELLO)."""
        return self._peer.max_frame_payload if self._peer else 0

    @property
    def open_stream_ids(self) -> list[int]:
        """Streams not yet closed (or with frames still to send), ascending."""
        return sorted(self._streams)

    def stream_state(self, stream_id: int) -> StreamState:
        """The stream's state; CLOSED for any stream no longer tracked."""
        record = self._streams.get(stream_id)
        return record.state if record else StreamState.CLOSED

    def send_window(self, stream_id: int) -> int:
        """Bytes that could go on ``stream_id`` now: min(stream credit, connection credit),
        less what is already queued there. Writers wait for this to be positive."""
        record = self._streams.get(stream_id)
        if record is None:
            return 0
        window = min(record.send_window, self._scheduler.connection_window)
        return max(0, window - record.queued_bytes)

    def queued_bytes(self, stream_id: int) -> int:
        """Payload bytes queued on ``stream_id`` and not yet returned by ``data_to_send``."""
        record = self._streams.get(stream_id)
        return record.queued_bytes if record else 0

    def can_open_stream(self) -> bool:
        """Whether ``open_stream`` would be accepted now."""
        if self._state is not _CONNECTION_OPEN or self._peer is None:
            return False
        return self._table.can_open_local(self._peer.max_open_streams)

    # ---- sending ---------------------------------------------------------------------------

    def open_stream(self, message: Message, *, end_stream: bool = False) -> int:
        """Open a new stream with a request; return its id.

        Raises:
            UsageError: before the handshake, after a GOAWAY, at the peer's stream limit, or
                for an opcode that cannot open a stream.
        """
        if not self.can_open_stream():
            raise UsageError(f"cannot open a stream now (state {self._state.value}, or at limit)")
        if type(message).OPCODE not in STREAM_OPENING_OPCODES:
            raise UsageError(f"{type(message).__name__} cannot open a stream")
        assert self._peer is not None
        stream_id = self._table.open_local(self._peer.initial_stream_window).stream_id
        self.send(stream_id, message, end_stream=end_stream)
        return stream_id

    def send(self, stream_id: int, message: Message, *, end_stream: bool = False) -> None:
        """Queue ``message`` on an open stream (then END if ``end_stream``).

        Raises:
            UsageError: unknown or ended stream, a control message, or a payload above the
                peer's ``max_frame_payload`` (split bulk data by ``max_send_payload``).
        """
        opcode = type(message).OPCODE
        if opcode is None or opcode in CONTROL_OPCODES:
            raise UsageError(f"{type(message).__name__} is not a stream message")
        payload = encode_message(message)
        if len(payload) > (self._peer.max_frame_payload if self._peer else 0):
            raise UsageError(
                f"payload of {len(payload)} bytes exceeds the peer's limit of "
                f"{self.max_send_payload}"
            )
        self._scheduler.push(self._local_step(stream_id, _SEND), opcode, payload)
        if end_stream:
            self.end_stream(stream_id)

    def send_error(
        self,
        stream_id: int,
        code: WireErrorCode,
        message: str,
        details: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Answer a request with a typed failure: ERROR then END.

        Args:
            message: a sentence naming what failed and where (path, pid...).
            details: structured context, e.g. ``(("path", "src/a.py"),)``.
        """
        self.send(stream_id, ErrorReply(code, message, details), end_stream=True)

    def end_stream(self, stream_id: int) -> None:
        """Queue END: this side sends nothing more on ``stream_id``."""
        self._scheduler.push(self._local_step(stream_id, _SEND_END), _END, b"")

    def reset_stream(
        self, stream_id: int, code: WireErrorCode = WireErrorCode.CANCELLED, message: str = ""
    ) -> None:
        """Abandon ``stream_id`` now: queued frames are dropped, RESET goes out first.
        Resetting a stream that is already closed does nothing."""
        record = self._streams.get(stream_id)
        if record is not None and record.state is not _STREAM_CLOSED:
            self._close_stream(record)
            self._queue_control(stream_id, Reset(code, message))

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give back ``size`` bytes of receive credit (a ``flow_length``) once dealt with."""
        if size == 0:
            return
        increment = self._receive.acknowledge(size)
        if increment:
            self._queue_control(0, WindowUpdate(increment))
        record = self._streams.get(stream_id)
        if record is not None and record.state in _RECEIVING_STATES:
            increment = record.receive.acknowledge(min(size, record.receive.unacknowledged))
            if increment:
                self._queue_control(stream_id, WindowUpdate(increment))

    def ping(self, opaque: int = 0) -> None:
        """Queue a PING; the peer's PONG comes back as ``PongReceived(opaque)``."""
        self._queue_control(0, Ping(opaque))

    def close(self, code: WireErrorCode = WireErrorCode.NO_ERROR, message: str = "") -> None:
        """Queue GOAWAY: no new peer streams; existing streams may finish."""
        if self._state is ConnectionState.CLOSED:
            return
        self._queue_control(0, GoAway(self._table.highest_peer_id, code, message))
        self._transition(ConnectionInput.GOAWAY_SENT)

    def data_to_send(self, max_bytes: int | None = None) -> bytes:
        """Bytes to write to the transport: control frames first, then stream frames one per
        stream in turn (round robin), each only once both windows have room for it.

        Args:
            max_bytes: stop adding stream frames once this much is gathered (at least one
                frame goes out if any can). Small values make interleaving finer.
        """
        parts: list[bytes] = []
        while self._control:
            parts.append(self._control.popleft().encode())
        if self._peer is not None and self._state in _SENDING_STATES:
            control_parts = len(parts)
            for record in self._scheduler.gather(parts, max_bytes):
                self._table.forget(record)
            if len(parts) > control_parts:
                # A stream frame sent is progress: the peer's control frames count anew.
                self._burst = 0
        return b"".join(parts)

    # ---- receiving -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Process bytes from the transport; return what happened, in order.

        A peer's protocol violation ends the list with ``ConnectionFailed`` (a GOAWAY is
        queued); after that, data is ignored. ``b""`` (end of file) changes nothing. Chunk
        boundaries carry no meaning.
        """
        events: list[Event] = []
        try:
            while data and self._state in _HANDSHAKE_STATES:
                # One frame at a time: the frame that completes the handshake raises the payload
                # limit for the frames behind it, and a peer that has not authenticated never
                # gets more than one small frame buffered.
                wanted = self._codec.bytes_wanted()
                self._receive_frames(self._codec.feed_fields(data[:wanted]), events)
                data = data[wanted:]
            if data and self._state is not _CONNECTION_CLOSED:
                self._receive_frames(self._codec.feed_fields(data), events)
        except PayloadTooLarge as error:
            in_handshake = self._state in _HANDSHAKE_STATES
            self._fail(said_of_the_handshake(error) if in_handshake else error, events)
        except ProtocolError as error:
            self._fail(error, events)
        return events

    def _receive_frames(self, frames: list[FrameFields], events: list[Event]) -> None:
        # Until the handshake completes a batch is one frame, so one look at the state will do;
        # only a frame on stream 0 can end the connection without raising.
        streams_open = self._state not in _HANDSHAKE_STATES
        for stream_id, opcode, payload in frames:
            if streams_open and stream_id and opcode in _STREAM_FRAME_OPCODES:
                self._receive_stream_frame(stream_id, opcode, payload, events)
            else:
                self._receive_other_frame(stream_id, opcode, payload, events)
                if self._state is _CONNECTION_CLOSED:
                    return

    def _receive_other_frame(
        self, stream_id: int, opcode: Opcode, payload: bytes, events: list[Event]
    ) -> None:
        """A frame on stream 0, a WINDOW_UPDATE or RESET on a stream, or one misplaced."""
        # Stream 0 carries the connection's frames; WINDOW_UPDATE also goes on a stream.
        if opcode is not Opcode.WINDOW_UPDATE and (stream_id == 0) != (opcode in _CONNECTION_ONLY):
            where = "is not allowed on stream 0" if stream_id == 0 else "belongs on stream 0"
            message = f"{opcode.name} {where}"
            raise ProtocolError(WireErrorCode.PROTOCOL_ERROR, message, stream_id=stream_id)
        if stream_id == 0:
            self._receive_control(opcode, payload, events)
        elif self._state in _HANDSHAKE_STATES:
            raise before_handshake(opcode)
        else:  # WINDOW_UPDATE or RESET
            self._receive_stream_control(stream_id, opcode, payload, events)

    def _receive_control(self, opcode: Opcode, payload: bytes, events: list[Event]) -> None:
        message = decode_message(opcode, payload)
        match message:
            case Hello():
                self._receive_hello(message, events)
            case Auth(proof=received):
                self._receive_auth(received, events)
            case GoAway():
                self._receive_goaway(message, events)
            case _ if self._state in _HANDSHAKE_STATES:
                raise before_handshake(opcode)
            case Ping(opaque=opaque):
                self._count_unproductive()
                self._queue_control(0, Pong(opaque))
                if len(self._control) > self.limits.max_pending_control:
                    text = "too many control replies waiting to be read"
                    raise ProtocolError(WireErrorCode.CONTROL_FLOOD, text)
                events.append(PingReceived(opaque))
            case Pong(opaque=opaque):
                self._count_unproductive()
                events.append(PongReceived(opaque))
            case WindowUpdate(increment=increment):
                self._scheduler.connection_window += increment
                if self._scheduler.connection_window > MAX_WINDOW:
                    text = "connection window above 2**31-1"
                    raise ProtocolError(WireErrorCode.FLOW_CONTROL, text)

    def _receive_hello(self, hello: Hello, events: list[Event]) -> None:
        if self._state is not ConnectionState.AWAIT_HELLO:
            raise ProtocolError(WireErrorCode.HANDSHAKE_FAILED, "a second HELLO")
        self._queue_control(0, self._handshake.answer(hello))
        self._peer = hello
        self._scheduler.connection_window = hello.connection_window
        self.features = tuple(name for name in self._handshake.features if name in hello.features)
        if self.role is Role.CLIENT:
            self._transition(ConnectionInput.SERVER_HELLO_RECEIVED)
            events.append(HandshakeCompleted(peer=hello, features=self.features))
        else:
            self._transition(ConnectionInput.CLIENT_HELLO_RECEIVED)

    def _receive_auth(self, received: bytes, events: list[Event]) -> None:
        if self._state is not ConnectionState.AWAIT_AUTH or self._peer is None:
            raise ProtocolError(WireErrorCode.HANDSHAKE_FAILED, "an unexpected AUTH")
        self._handshake.check_auth(received, self._peer.nonce)
        self._transition(ConnectionInput.AUTH_RECEIVED)
        events.append(HandshakeCompleted(peer=self._peer, features=self.features))

    def _receive_goaway(self, goaway: GoAway, events: list[Event]) -> None:
        for record in list(self._streams.values()):
            if record.local and record.stream_id > goaway.last_stream_id:
                self._abandon(record, goaway.code, "not served: the peer is going away", events)
        self._transition(ConnectionInput.GOAWAY_RECEIVED)
        last, code, text = goaway.last_stream_id, goaway.code, goaway.message
        events.append(GoAwayReceived(last_stream_id=last, code=code, message=text))

    def _receive_stream_control(
        self, stream_id: int, opcode: Opcode, payload: bytes, events: list[Event]
    ) -> None:
        record = self._streams.get(stream_id)
        match decode_message(opcode, payload):
            case WindowUpdate(increment=increment) if record is not None:
                record.send_window += increment
                if record.send_window > MAX_WINDOW:
                    text = "stream window above 2**31-1"
                    raise ProtocolError(
                        WireErrorCode.FLOW_CONTROL, text, stream_id=record.stream_id
                    )
                self._scheduler.unblock(record)
            case Reset(code=code, message=text):
                self._count_unproductive()
                if record is not None:
                    self._abandon(record, code, text, events)
            case _:  # credit for a stream already closed here
                self._count_unproductive()

    def _receive_stream_frame(
        self, stream_id: int, opcode: Opcode, payload: bytes, events: list[Event]
    ) -> None:
        """A request, reply or END on a stream: windows, the stream's state, then the event."""
        size = len(payload)
        if size and not self._receive.consume(size):  # an empty frame takes no credit
            text = "the peer overran the connection window"
            raise ProtocolError(WireErrorCode.FLOW_CONTROL, text, stream_id=stream_id)
        record = self._streams.get(stream_id)
        if record is None and self._peer is not None:
            accepting, window = self._state is _CONNECTION_OPEN, self._peer.initial_stream_window
            record = self._table.open_peer(stream_id, opcode, window, accepting=accepting)
        if record is None:  # a stream already closed here, or refused after GOAWAY
            self._count_unproductive()
            self.acknowledge(0, size)
            return
        self._burst = 0
        if size and not record.receive.consume(size):
            text = "the peer overran a stream window"
            raise ProtocolError(WireErrorCode.FLOW_CONTROL, text, stream_id=stream_id)
        ending = opcode is _END
        new_state = (_AFTER_RECEIVE_END if ending else _AFTER_RECEIVE).get(record.state)
        if new_state is None:
            error = ProtocolError(WireErrorCode.STREAM_CLOSED, "a frame after END")
            self._stream_error(record, error, size, events)
            return
        if ending and not size:  # END carries nothing to decode
            record.state = new_state
            events.append(StreamEnded(stream_id))
            self._table.forget(record)
            return
        try:
            message = decode_message(opcode, payload)  # an END with a payload is malformed
        except MalformedPayload as error:
            self._stream_error(record, error, size, events)
            return
        record.state = new_state
        if not record.opened:
            record.opened = True
            events.append(message_event(RequestReceived, stream_id, message, size))
        else:
            events.append(message_event(MessageReceived, stream_id, message, size))

    # ---- internals -------------------------------------------------------------------------

    def _transition(self, step: ConnectionInput) -> None:
        new_state = CONNECTION_TRANSITIONS.get((self._state, step))
        if new_state is None:
            text = f"{step.value} in state {self._state.value}"
            raise ProtocolError(WireErrorCode.HANDSHAKE_FAILED, text)
        self._state = new_state
        if new_state is ConnectionState.OPEN:  # the handshake's small frame limit ends
            self._codec.max_payload = self.limits.max_frame_payload

    def _local_step(self, stream_id: int, step: StreamInput) -> StreamRecord:
        record = self._streams.get(stream_id)
        new_state = STREAM_TRANSITIONS.get((record.state, step)) if record else None
        if record is None or new_state is None:
            state = record.state.value if record else "closed"
            raise UsageError(f"cannot {step.value} on stream {stream_id} (state {state})")
        record.state = new_state
        return record

    def _close_stream(self, record: StreamRecord) -> None:
        """Close ``record`` at once (a RESET either way): its queued frames are dropped. One
        closed here already (both ENDs crossed, ours still queued) only loses those."""
        if record.state is not _STREAM_CLOSED:
            record.state = STREAM_TRANSITIONS[record.state, StreamInput.RESET]
        self._scheduler.discard(record)
        self._table.forget(record)

    def _abandon(
        self, record: StreamRecord, code: WireErrorCode, message: str, events: list[Event]
    ) -> None:
        """The peer reset the stream, or will not serve it (GOAWAY). Of a stream closed here
        already the application has seen the end: there is nothing to report."""
        if record.state is not _STREAM_CLOSED:
            stream_id = record.stream_id
            events.append(StreamReset(stream_id=stream_id, code=code, message=message, remote=True))
        self._close_stream(record)

    def _stream_error(
        self, record: StreamRecord, error: ProtocolError, size: int, events: list[Event]
    ) -> None:
        """The peer broke a stream's rules: reset that stream only."""
        self._count_unproductive()
        self.acknowledge(record.stream_id, size)
        self.reset_stream(record.stream_id, error.code, error.message)
        code, message = error.code, error.message
        events.append(
            StreamReset(stream_id=record.stream_id, code=code, message=message, remote=False)
        )

    def _queue_control(self, stream_id: int, message: Message) -> None:
        self._control.append(message_frame(stream_id, message))

    def _count_unproductive(self) -> None:
        self._burst += 1
        if self._burst > self.limits.max_control_burst:
            text = f"more than {self.limits.max_control_burst} control frames in a row"
            raise ProtocolError(WireErrorCode.CONTROL_FLOOD, text)

    def _fail(self, error: ProtocolError, events: list[Event]) -> None:
        self._scheduler.clear()
        self._table.clear()
        self._queue_control(0, GoAway(self._table.highest_peer_id, error.code, error.message))
        self._transition(ConnectionInput.FAILED)
        events.append(
            ConnectionFailed(code=error.code, message=error.message, stream_id=error.stream_id)
        )
