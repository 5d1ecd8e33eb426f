"""``BlockingClient``: the synchronous client driver, no event loop (h11-style).

The protocol's ``Connection`` is Sans-IO, so a caller's own thread can drive it over a
blocking socket: queue a request, ``sendall(data_to_send())``, ``recv`` and ``receive_data``
until the stream ends. That is one system call each way per small operation, where the async
core through a portal costs two thread hops and several event-loop passes (PROTOCOL.md §8).

Thread safety: one ``threading.Condition`` guards the ``Connection``. Several threads may wait
on replies at once; whichever finds nobody reading becomes the reader (it ``recv``s with the
lock released, then feeds the bytes in and wakes the others), so replies for any stream are
dispatched by whoever reads them.

Flow control: every message received is acknowledged on arrival. This driver serves engine
operations only, whose replies are collected whole anyway (bounded by what was asked: a read's
length, a listing); streamed processes, whose output must be flow-controlled by a slow
consumer, are the async core's (``RemoteClient.spawn``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sa3p_host._remote._errors import (
    RemoteConnectionError,
    RemoteOperationError,
    StreamAborted,
    connection_failure,
)
from sa3p_host._remote._exchange import Exchange, check_replies, cwd
from sa3p_host._transport import Address, connect_socket
from sa3p_protocol import (
    Connection,
    ConnectionFailed,
    ConnectionLimits,
    Event,
    GoAwayReceived,
    HandshakeCompleted,
    Message,
    MessageReceived,
    RequestReceived,
    Role,
    StreamEnded,
    StreamReset,
    StreamState,
    WireErrorCode,
)

if TYPE_CHECKING:
    from sa3p_host._remote._writers import BlockingFileWriter

__all__ = ["BlockingClient"]

T = TypeVar("T")
_RECEIVE_SIZE = 1024 * 1024
HANDSHAKE_SECONDS = 30.0
"""How long ``connect`` waits for the handshake and its first round trip."""
_ENDED_HERE = frozenset({StreamState.CLOSED, StreamState.LOCAL_ENDED})


@dataclass(slots=True)
class _Stream:
    """What arrived on one of our streams (mutable: filled in by whichever thread reads)."""

    replies: list[Message] = field(default_factory=list)
    ended: bool = False
    error: StreamAborted | None = None


class BlockingClient:
    """An open, authenticated connection to a guest, driven by the calling threads.

    Create it with ``BlockingClient.connect``; ``close`` when done.

    Attributes:
        address: the guest's address.
        workspace: the guest's workspace (its ``cwd``), checked at connect.
    """

    def __init__(self, sock: socket.socket, connection: Connection, address: Address) -> None:
        self.address = address
        self.workspace = ""
        self._sock = sock
        self._connection = connection
        self._condition = threading.Condition(threading.Lock())
        self._reading = False
        self._sending = False
        self._handshake_done = False
        self._streams: dict[int, _Stream] = {}
        self._goaway: GoAwayReceived | None = None
        self.closed: RemoteConnectionError | None = None

    @classmethod
    def connect(
        cls, address: Address, *, token: bytes | None, limits: ConnectionLimits
    ) -> BlockingClient:
        """Connect, complete the handshake, prove the token, check with one VFS_CWD (all within
        ``HANDSHAKE_SECONDS``).

        Raises:
            RemoteConnectionError: cannot connect, or the guest refused (said plainly).
        """
        try:
            sock = connect_socket(address)
        except OSError as error:
            raise RemoteConnectionError(
                WireErrorCode.CONNECTION_LOST,
                f"cannot connect to {address}: {error.strerror or error}",
            ) from error
        client = cls(sock, Connection(Role.CLIENT, token=token, limits=limits), address)
        sock.settimeout(HANDSHAKE_SECONDS)  # a peer that never answers is an error, not a hang
        try:
            with client._condition:
                client._flush()
                client._wait(lambda: client._handshake_done)
            client.workspace = client.call(cwd())
            sock.settimeout(None)
        except (RemoteConnectionError, RemoteOperationError) as error:
            client.close()
            reason = client.closed or error
            code = reason.code
            message = reason.message if isinstance(reason, RemoteConnectionError) else str(error)
            raise RemoteConnectionError(
                code, f"the guest at {address} refused the connection: {message}"
            ) from error
        return client

    # ---- operations -------------------------------------------------------------------------

    def call(self, exchange: Exchange[T]) -> T:
        """Run one operation: send its request, wait for its replies, decode them.

        Raises:
            RemoteOperationError: the guest answered ERROR or reset the stream.
            RemoteConnectionError: the connection is gone.
        """
        return exchange.decode(self.request(exchange.request))

    def request(self, message: Message) -> list[Message]:
        """Send one request; return its replies (END excluded, ERROR raised)."""
        with self._condition:
            return self._finish(self._open(message, end_stream=True))

    def open_stream(self, message: Message, *, end_stream: bool = False) -> int:
        """Open a stream with ``message`` (waiting while the guest's stream limit is reached)."""
        with self._condition:
            return self._open(message, end_stream=end_stream)

    def send(self, stream_id: int, message: Message, *, end_stream: bool = False) -> None:
        """Queue ``message`` once the stream has send credit, and send what can go.

        Raises:
            RemoteOperationError: the guest already answered the stream with ERROR.
            StreamAborted: the stream was reset.
            RemoteConnectionError: the connection is gone.
        """
        with self._condition:
            self._wait(lambda: self._writable(stream_id))
            self._connection.send(stream_id, message, end_stream=end_stream)
            self._flush()

    def finish(self, stream_id: int) -> list[Message]:
        """Wait for the guest to end ``stream_id``; return its replies (ERROR raised)."""
        with self._condition:
            return self._finish(stream_id)

    def release(self, stream_id: int) -> None:
        """Forget a stream; reset it if our side is still open (nothing more will be sent)."""
        with self._condition:
            self._release(stream_id)

    def open_writer(self, path: str, where: str) -> BlockingFileWriter:
        """A streaming write of ``path`` over this connection (``where`` is for messages)."""
        from sa3p_host._remote._writers import BlockingFileWriter  # noqa: PLC0415 (a cycle)

        return BlockingFileWriter(self, path)

    @property
    def max_send_payload(self) -> int:
        return self._connection.max_send_payload

    def close(self) -> None:
        """Say GOAWAY (best effort) and close the socket. Idempotent."""
        with self._condition:
            if self.closed is None:
                self._connection.close(WireErrorCode.NO_ERROR, "the client is done")
                self._flush()
                self._lose(
                    RemoteConnectionError(WireErrorCode.CONNECTION_LOST, "the client closed")
                )
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    # ---- driving the connection (the condition held, exactly once: it is not reentrant, so
    # releasing it around a blocking call really lets the other threads in) ------------------

    def _open(self, message: Message, *, end_stream: bool) -> int:
        self._wait(self._can_open)
        stream_id = self._connection.open_stream(message, end_stream=end_stream)
        self._streams[stream_id] = _Stream()
        self._flush()
        return stream_id

    def _finish(self, stream_id: int) -> list[Message]:
        try:
            stream = self._streams[stream_id]
            self._wait(lambda: stream.ended or stream.error is not None)
            if stream.error is not None:
                raise stream.error
            return check_replies(stream.replies)
        finally:
            self._release(stream_id)

    def _release(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        state = self._connection.stream_state(stream_id)
        if self.closed is None and state in (StreamState.OPEN, StreamState.REMOTE_ENDED):
            self._connection.reset_stream(stream_id, WireErrorCode.CANCELLED)
            self._flush()

    def _can_open(self) -> bool:
        if self._connection.can_open_stream():
            return True
        if self._goaway is not None:
            raise RemoteConnectionError(
                WireErrorCode.SHUTTING_DOWN, f"the guest is going away: {self._goaway.message}"
            )
        return False

    def _writable(self, stream_id: int) -> bool:
        stream = self._streams.get(stream_id)
        if stream is not None and stream.error is not None:
            raise stream.error
        if stream is not None and stream.replies:
            check_replies(stream.replies)  # the guest refused early (disk full...): stop here
        if self._connection.stream_state(stream_id) in _ENDED_HERE:
            raise StreamAborted(stream_id, WireErrorCode.STREAM_CLOSED, "the stream is closed")
        return self._connection.send_window(stream_id) > 0

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Until ``ready()``: read from the socket, or let the thread already reading do it."""
        while True:
            if self.closed is not None:
                raise self.closed
            if ready():
                return
            if self._reading:
                self._condition.wait()
                continue
            self._reading = True
            self._condition.release()
            try:
                data, failure = self._receive()
            finally:
                self._condition.acquire()
                self._reading = False
            self._feed(data, failure)
            self._condition.notify_all()

    def _receive(self) -> tuple[bytes, OSError | None]:
        try:
            return self._sock.recv(_RECEIVE_SIZE), None
        except OSError as error:
            return b"", error

    def _feed(self, data: bytes, failure: OSError | None) -> None:
        if failure is not None or not data:
            reason = f"connection lost: {failure}" if failure else self._ended_reason()
            self._lose(RemoteConnectionError(WireErrorCode.CONNECTION_LOST, reason))
            return
        for event in self._connection.receive_data(data):
            self._dispatch(event)
        self._flush()  # window updates, PONGs, a GOAWAY, frames that now have credit

    def _dispatch(self, event: Event) -> None:
        match event:
            case MessageReceived(stream_id=stream_id, message=message, flow_length=size):
                self._connection.acknowledge(stream_id, size)
                if (stream := self._streams.get(stream_id)) is not None:
                    stream.replies.append(message)
            case StreamEnded(stream_id=stream_id):
                if (stream := self._streams.get(stream_id)) is not None:
                    stream.ended = True
            case StreamReset(stream_id=stream_id, code=code, message=text):
                if (stream := self._streams.get(stream_id)) is not None:
                    stream.error = StreamAborted(stream_id, code, text)
            case RequestReceived(stream_id=stream_id, flow_length=size):
                self._connection.acknowledge(stream_id, size)
                self._connection.reset_stream(stream_id, WireErrorCode.UNSUPPORTED_OPERATION)
            case GoAwayReceived(code=code, message=text):
                self._goaway = event
                if code is not WireErrorCode.NO_ERROR:
                    self._lose(connection_failure(code, text, role=Role.CLIENT, by_peer=True))
            case ConnectionFailed(code=code, message=text):
                self._lose(connection_failure(code, text, role=Role.CLIENT, by_peer=False))
            case HandshakeCompleted():
                self._handshake_done = True
            case _:
                pass  # PING is answered by the Connection; PONG needs nothing

    def _flush(self) -> None:
        # One sender at a time, in order; it sends with the condition released, so a thread
        # reading meanwhile can still feed what it receives (window updates the sender may be
        # waiting for). Whatever others queue meanwhile, the sender picks up before it stops.
        if self._sending:
            return
        self._sending = True
        try:
            while data := self._connection.data_to_send():
                self._condition.release()
                try:
                    self._sock.sendall(data)
                finally:
                    self._condition.acquire()
        except OSError as error:
            self._lose(
                RemoteConnectionError(WireErrorCode.CONNECTION_LOST, f"connection lost: {error}")
            )
        finally:
            self._sending = False

    def _lose(self, reason: RemoteConnectionError) -> None:
        if self.closed is None:
            self.closed = reason
            self._condition.notify_all()

    def _ended_reason(self) -> str:
        goaway = self._goaway
        if goaway is not None and goaway.code is not WireErrorCode.NO_ERROR:
            return f"the peer closed the connection: {goaway.code.name}: {goaway.message}"
        if goaway is not None:
            return f"the guest closed the connection: {goaway.message or goaway.code.name}"
        return "the connection was closed by the peer"
