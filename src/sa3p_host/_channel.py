"""``Channel``: a protocol ``Connection`` plus what arrived on each stream, with no I/O.

Both ends use it — the guest and the remote client, the client from async code or from
blocking threads — so every event of the protocol is handled here, once. A driver only moves
bytes (``receive_data`` / ``data_to_send``) and waits until a condition holds (``_links``);
what a stream means is said by the routines of ``_stream_routines``.

Flow control is end to end: a message's bytes are acknowledged only when it is taken from its
stream (``take``), so a slow consumer stops the peer's sender and nothing queues without
bound. A connection's failure is kept (``closed``) and raised by every later use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sa3p_host._remote_errors import RemoteConnectionError, StreamAborted, connection_failure
from sa3p_protocol import (
    Connection,
    ConnectionFailed,
    Event,
    GoAwayReceived,
    HandshakeCompleted,
    Message,
    MessageReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
    StreamState,
    WireErrorCode,
)

__all__ = ["Accept", "Channel"]

Accept = Callable[[int, Message], None]
"""Called when the peer opens a stream: ``(stream_id, first message)``."""

_SENDING = frozenset({StreamState.OPEN, StreamState.REMOTE_ENDED})
_FIRST_BYTES = 40


@dataclass(slots=True)
class _Inbox:
    """One stream's arrivals: (message, flow length) pairs, then the end or its failure."""

    items: deque[tuple[Message, int]] = field(default_factory=deque)
    ended: bool = False
    failure: StreamAborted | None = None
    received_bytes: int = 0


class Channel:
    """A ``Connection`` with per-stream inboxes.

    Args:
        connection: the Sans-IO connection (a client's has its HELLO queued already).
        accept: what to do with a stream the peer opens; None resets it (a client serves
            nothing).
    """

    def __init__(self, connection: Connection, *, accept: Accept | None = None) -> None:
        self.connection = connection
        self._accept = accept
        self._inboxes: dict[int, _Inbox] = {}
        self.handshake_done = False
        self.first_bytes = b""
        """The first bytes the peer sent, however they were split (to say what a non-sa3p peer
        is)."""
        self.closed: RemoteConnectionError | None = None
        self.goaway: GoAwayReceived | None = None

    # ---- bytes in and out ----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the transport (``b""``: it ended)."""
        if not data:
            self.lose(RemoteConnectionError(WireErrorCode.CONNECTION_LOST, self._ended_reason()))
            return
        if len(self.first_bytes) < _FIRST_BYTES:
            self.first_bytes += data[: _FIRST_BYTES - len(self.first_bytes)]
        events = self.connection.receive_data(data)
        if events and isinstance(failed := events[-1], ConnectionFailed):
            self._dispatch(failed)  # its streams are gone: nothing before it can be answered
        for event in events:
            self._dispatch(event)

    def data_to_send(self, max_bytes: int) -> bytes:
        """What to write now: frames gathered until about ``max_bytes`` (one write, not one
        per frame; the connection hands out one frame per stream per round)."""
        first = self.connection.data_to_send(max_bytes)
        if not first or len(first) >= max_bytes:
            return first
        parts = [first]
        size = len(first)
        while size < max_bytes and (more := self.connection.data_to_send(max_bytes - size)):
            parts.append(more)
            size += len(more)
        return first if len(parts) == 1 else b"".join(parts)

    def lose(self, reason: RemoteConnectionError) -> None:
        """The connection is gone; every stream's next use raises ``reason``."""
        if self.closed is None:
            self.closed = reason

    # ---- streams -----------------------------------------------------------------------------

    def can_open(self) -> bool:
        """Whether a stream may be opened now (False: wait for one to close).

        Raises:
            RemoteConnectionError: the connection is gone, or the peer said GOAWAY.
        """
        self.check()
        if self.goaway is not None:
            raise RemoteConnectionError(
                WireErrorCode.SHUTTING_DOWN, f"the peer is going away: {self.goaway.message}"
            )
        return self.connection.can_open_stream()

    def open(self, message: Message, *, end_stream: bool = False) -> int:
        """Open a stream with ``message`` (after ``can_open``); return its id."""
        stream_id = self.connection.open_stream(message, end_stream=end_stream)
        self._inboxes[stream_id] = _Inbox()
        return stream_id

    def send_window(self, stream_id: int) -> int:
        """How many payload bytes may be sent on ``stream_id`` now.

        Raises:
            StreamAborted: the stream was reset, or our side of it is closed.
            RemoteConnectionError: the connection is gone.
        """
        self._inbox(stream_id)
        if self.connection.stream_state(stream_id) not in _SENDING:
            raise StreamAborted(stream_id, WireErrorCode.STREAM_CLOSED, "the stream is closed")
        return self.connection.send_window(stream_id)

    def send(self, stream_id: int, message: Message, *, end_stream: bool = False) -> None:
        """Queue ``message`` (the caller waited for ``send_window``, or bounds it itself)."""
        self.connection.send(stream_id, message, end_stream=end_stream)

    def ready(self, stream_id: int) -> bool:
        """Whether ``take`` has something (a message, the end, or a failure to raise)."""
        inbox = self._inboxes.get(stream_id)
        return (
            inbox is None
            or bool(inbox.items)
            or inbox.ended
            or inbox.failure is not None
            or self.closed is not None
        )

    def peek(self, stream_id: int) -> Message | None:
        """The next message of ``stream_id`` if one has arrived (it stays there)."""
        inbox = self._inboxes.get(stream_id)
        return inbox.items[0][0] if inbox is not None and inbox.items else None

    def take(self, stream_id: int) -> Message | None:
        """The next message (acknowledged now), or None once the peer ended the stream.

        Call only when ``ready``. Raises:
            StreamAborted: the stream was reset.
            RemoteConnectionError: the connection is gone.
        """
        inbox = self._inbox(stream_id)
        if inbox.items:
            message, size = inbox.items.popleft()
            if size and self.closed is None:
                self.connection.acknowledge(stream_id, size)
            return message
        if inbox.ended:
            return None
        raise AssertionError("take() on a stream that is not ready")

    def received_bytes(self, stream_id: int) -> int:
        """Flow-controlled bytes received on ``stream_id`` so far (for reply bounds)."""
        inbox = self._inboxes.get(stream_id)
        return 0 if inbox is None else inbox.received_bytes

    def end(self, stream_id: int) -> None:
        """Send END on a stream still open in our direction (else do nothing)."""
        if self.closed is None and self.connection.stream_state(stream_id) in _SENDING:
            self.connection.end_stream(stream_id)

    def release(self, stream_id: int, code: WireErrorCode = WireErrorCode.CANCELLED) -> None:
        """Forget a stream. If our side is still open, reset it (nothing more will be sent);
        if we ended it, let it close normally (a reset would drop our queued last frames)."""
        self._inboxes.pop(stream_id, None)
        if self.closed is None and self.connection.stream_state(stream_id) in _SENDING:
            self.connection.reset_stream(stream_id, code)

    @property
    def open_streams(self) -> int:
        return len(self._inboxes)

    def handshake_complete(self) -> bool:
        """Whether both sides said HELLO (and the client proved its token).

        Raises:
            RemoteConnectionError: the handshake failed.
        """
        self.check()
        return self.handshake_done

    def check(self) -> None:
        """Raise the connection's failure, if it failed."""
        if self.closed is not None:
            raise self.closed

    # ---- events ------------------------------------------------------------------------------

    def _inbox(self, stream_id: int) -> _Inbox:
        self.check()
        inbox = self._inboxes.get(stream_id)
        if inbox is None:
            raise StreamAborted(stream_id, WireErrorCode.STREAM_CLOSED, "the stream is closed")
        if inbox.failure is not None and not inbox.items:
            raise inbox.failure
        return inbox

    def _dispatch(self, event: Event) -> None:
        match event:
            case MessageReceived(stream_id=stream_id, message=message, flow_length=size):
                self._arrive(stream_id, message, size)
            case RequestReceived(stream_id=stream_id, message=message, flow_length=size):
                if self.closed is not None:
                    return
                self.connection.acknowledge(stream_id, size)
                if self._accept is None:
                    self.connection.reset_stream(stream_id, WireErrorCode.UNSUPPORTED_OPERATION)
                    return
                self._inboxes[stream_id] = _Inbox()
                self._accept(stream_id, message)
            case StreamEnded(stream_id=stream_id):
                if (inbox := self._inboxes.get(stream_id)) is not None:
                    inbox.ended = True
            case StreamReset(stream_id=stream_id, code=code, message=text):
                if (inbox := self._inboxes.get(stream_id)) is not None:
                    inbox.failure = StreamAborted(stream_id, code, text)
            case GoAwayReceived(code=code, message=text):
                self.goaway = event
                if code is not WireErrorCode.NO_ERROR:
                    self.lose(self._failure(code, text, by_peer=True))
            case ConnectionFailed(code=code, message=text):
                self.lose(self._failure(code, text, by_peer=False))
            case HandshakeCompleted():
                self.handshake_done = True
            case _:
                pass  # PING is answered by the Connection; PONG needs nothing

    def _arrive(self, stream_id: int, message: Message, size: int) -> None:
        inbox = self._inboxes.get(stream_id)
        if inbox is None:  # a stream we released: its credit goes straight back
            self.connection.acknowledge(stream_id, size)
            return
        inbox.items.append((message, size))
        inbox.received_bytes += size

    def _failure(self, code: WireErrorCode, text: str, *, by_peer: bool) -> RemoteConnectionError:
        return connection_failure(code, text, role=self.connection.role, by_peer=by_peer)

    def _ended_reason(self) -> str:
        goaway = self.goaway
        if goaway is not None and goaway.code is not WireErrorCode.NO_ERROR:
            return f"the peer closed the connection: {goaway.code.name}: {goaway.message}"
        if goaway is not None:
            return f"the peer closed the connection: {goaway.message or goaway.code.name}"
        return "the connection was closed by the peer"
