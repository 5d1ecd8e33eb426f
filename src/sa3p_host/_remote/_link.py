"""``Link``: moves the bytes of one Sans-IO ``Connection`` over an anyio byte stream.

Both ends use it: the host's ``RemoteClient`` and each of the guest's sessions. One task reads
(``receive_data`` → events → per-stream ``Inbox``es), one task writes (``data_to_send`` whenever
something was queued). Everything runs on one event loop, so the ``Connection`` is only ever
touched by one thread.

Flow control is end to end: an ``Inbox`` acknowledges a message's bytes only when its consumer
takes it (so a slow consumer stops the peer's sender, and nothing queues without bound), and
``Link.send`` waits for the stream's send window before queuing (so a slow peer stops ours).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import anyio
from anyio.abc import ByteStream

from sa3p_host._remote._errors import RemoteConnectionError, StreamAborted, connection_failure
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

__all__ = ["Inbox", "Link"]

_ENDED_HERE = frozenset({StreamState.CLOSED, StreamState.LOCAL_ENDED})
_RECEIVE_SIZE = 1024 * 1024
_SEND_BATCH = 256 * 1024
_FINAL_FLUSH_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class _Received:
    message: Message
    flow_length: int


@dataclass(frozen=True, slots=True)
class _Ended:
    pass


_Item: TypeAlias = _Received | _Ended | StreamAborted | RemoteConnectionError


class Inbox:
    """What the peer sent on one stream, in order. Bounded by the stream's receive window."""

    def __init__(self, link: Link, stream_id: int) -> None:
        self.stream_id = stream_id
        self._link = link
        self._items: deque[_Item] = deque()
        self._arrived = anyio.Event()
        self.ended = False

    def put(self, item: _Item) -> None:
        self._items.append(item)
        self._arrived.set()

    def peek(self) -> Message | None:
        """The next message if one is waiting (not consumed), else None."""
        if self._items and isinstance(item := self._items[0], _Received):
            return item.message
        return None

    def receive_nowait(self) -> Message | None:
        """Like ``receive``, without waiting.

        Raises:
            anyio.WouldBlock: nothing is waiting.
        """
        if not self._items:
            raise anyio.WouldBlock
        item = self._items.popleft()
        match item:
            case _Received(message=message, flow_length=size):
                self._link.acknowledge(self.stream_id, size)
                return message
            case _Ended():
                self.ended = True
                return None
            case _:
                self._items.appendleft(item)  # errors stay: every later call raises them too
                raise item

    async def receive(self) -> Message | None:
        """The next message, or None once the peer ended the stream.

        Raises:
            StreamAborted: the stream was reset.
            RemoteConnectionError: the connection is gone.
        """
        while True:
            if self.ended and not self._items:
                return None
            with contextlib.suppress(anyio.WouldBlock):
                return self.receive_nowait()
            self._arrived = anyio.Event()
            await self._arrived.wait()


OnRequest: TypeAlias = Callable[[int, Message, Inbox], None]


class Link:
    """Drive ``connection`` over ``stream`` until either ends. Call ``run`` in a task.

    Args:
        stream: the transport.
        connection: the Sans-IO connection (a client's has its HELLO queued already).
        on_request: called (synchronously, on the loop) when the peer opens a stream; it
            usually starts a task that serves it. None refuses every peer stream.
        send_batch: bytes gathered per transport write (smaller interleaves streams finer).
        answer_in_reader: after reading, write what that queued (inline answers, window
            updates) from the reading task itself, saving a task switch per request (~60 µs
            here). Then the reader waits whenever the transport is full, so only a side whose
            peer always keeps reading may set it: the guest (both clients read all the time,
            flow control bounds what they buffer).
    """

    def __init__(
        self,
        stream: ByteStream,
        connection: Connection,
        *,
        on_request: OnRequest | None = None,
        send_batch: int = _SEND_BATCH,
        answer_in_reader: bool = False,
    ) -> None:
        self.connection = connection
        self._stream = stream
        self._on_request = on_request
        self._send_batch = send_batch
        self._answer_in_reader = answer_in_reader
        self._dispatching = False
        self._inboxes: dict[int, Inbox] = {}
        self._wanted = anyio.Event()
        self._progress = anyio.Event()
        self._handshake = anyio.Event()
        self._writing = False
        self.closed: RemoteConnectionError | None = None
        self.goaway: GoAwayReceived | None = None

    # ---- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and write until the transport ends or the connection fails, then close it."""
        self.wake()  # a client's HELLO is queued from the start
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._write_loop)
            try:
                await self._read_loop()
            finally:
                tasks.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._final_flush()
                    await self._stream.aclose()

    async def _read_loop(self) -> None:
        while self.closed is None:
            try:
                data = await self._stream.receive(_RECEIVE_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._lose(
                    RemoteConnectionError(WireErrorCode.CONNECTION_LOST, self._ended_reason())
                )
                break
            except OSError as error:
                self._lose(
                    RemoteConnectionError(
                        WireErrorCode.CONNECTION_LOST, f"connection lost: {error}"
                    )
                )
                break
            self._dispatching = True
            try:
                for event in self.connection.receive_data(data):
                    self._dispatch(event)
            finally:
                self._dispatching = False
            self._notify()  # window updates may have arrived: let blocked senders look
            if self._answer_in_reader:
                await self.flush()
            else:
                self.wake()

    async def _write_loop(self) -> None:
        while self.closed is None:
            await self._wanted.wait()
            self._wanted = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued now, in this task (saves a task switch per message). If a
        write is already under way, that writer picks up what was queued before it returns."""
        if self._writing or self.closed is not None:
            return
        self._writing = True
        try:
            while data := self.connection.data_to_send(self._send_batch):
                await self._stream.send(data)
                self._notify()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as error:
            self._lose(
                RemoteConnectionError(WireErrorCode.CONNECTION_LOST, f"connection lost: {error}")
            )
        finally:
            self._writing = False

    async def _final_flush(self) -> None:
        # A failed connection owes the peer a GOAWAY saying why; best effort, bounded.
        data = self.connection.data_to_send()
        if data:
            with anyio.move_on_after(_FINAL_FLUSH_SECONDS), contextlib.suppress(Exception):
                await self._stream.send(data)

    def _ended_reason(self) -> str:
        if self.goaway is not None and self.goaway.code is not WireErrorCode.NO_ERROR:
            return f"the peer closed the connection: {self.goaway.code.name}: {self.goaway.message}"
        return "the connection was closed by the peer"

    # ---- events -----------------------------------------------------------------------------

    def _dispatch(self, event: Event) -> None:
        match event:
            case RequestReceived(stream_id=stream_id, message=message, flow_length=size):
                self.acknowledge(stream_id, size)
                self._accept(stream_id, message)
            case MessageReceived(stream_id=stream_id, message=message, flow_length=size):
                inbox = self._inboxes.get(stream_id)
                if inbox is None:
                    self.acknowledge(stream_id, size)
                else:
                    inbox.put(_Received(message, size))
            case StreamEnded(stream_id=stream_id):
                if (inbox := self._inboxes.get(stream_id)) is not None:
                    inbox.put(_Ended())
            case StreamReset(stream_id=stream_id, code=code, message=text):
                if (inbox := self._inboxes.pop(stream_id, None)) is not None:
                    inbox.put(StreamAborted(stream_id, code, text))
            case GoAwayReceived(code=code, message=text):
                self.goaway = event
                if code is not WireErrorCode.NO_ERROR:
                    self._lose(self._failure(code, text, by_peer=True))
            case ConnectionFailed(code=code, message=text):
                self._lose(self._failure(code, text, by_peer=False))
            case HandshakeCompleted():
                self._handshake.set()
            case _:
                pass  # PING is answered by the Connection; PONG needs nothing

    def _failure(self, code: WireErrorCode, text: str, *, by_peer: bool) -> RemoteConnectionError:
        return connection_failure(code, text, role=self.connection.role, by_peer=by_peer)

    def _accept(self, stream_id: int, message: Message) -> None:
        if self._on_request is None:
            self.connection.reset_stream(stream_id, WireErrorCode.UNSUPPORTED_OPERATION)
            return
        inbox = Inbox(self, stream_id)
        self._inboxes[stream_id] = inbox
        self._on_request(stream_id, message, inbox)

    def _lose(self, reason: RemoteConnectionError) -> None:
        if self.closed is not None:
            return
        self.closed = reason
        for inbox in self._inboxes.values():
            inbox.put(reason)
        self._handshake.set()
        self._notify()

    # ---- for stream users ---------------------------------------------------------------------

    async def wait_handshake(self) -> None:
        """Return once the handshake completed. Raises: RemoteConnectionError if it failed."""
        await self._handshake.wait()
        self._raise_if_closed()

    async def open_stream(self, message: Message, *, end_stream: bool = False) -> Inbox:
        """Open a stream with ``message`` (waiting while the peer's stream limit is reached).

        Raises:
            RemoteConnectionError: the connection is gone, or the peer said GOAWAY.
        """
        self._raise_if_closed()
        while not self.connection.can_open_stream():
            self._raise_if_closed()
            if self.goaway is not None:
                raise RemoteConnectionError(
                    WireErrorCode.SHUTTING_DOWN, f"the peer is going away: {self.goaway.message}"
                )
            await self._wait_progress()
        stream_id = self.connection.open_stream(message, end_stream=end_stream)
        inbox = Inbox(self, stream_id)
        self._inboxes[stream_id] = inbox
        await self.flush()
        return inbox

    async def send(self, stream_id: int, message: Message, *, end_stream: bool = False) -> None:
        """Queue ``message`` once the stream has send credit.

        Raises:
            StreamAborted: the stream was reset meanwhile.
            RemoteConnectionError: the connection is gone.
        """
        await self.wait_writable(stream_id)
        self.connection.send(stream_id, message, end_stream=end_stream)
        await self.flush()

    async def wait_writable(self, stream_id: int) -> int:
        """Wait until ``stream_id`` has send credit; return how much."""
        while True:
            self._raise_if_closed()
            if self.connection.stream_state(stream_id) in _ENDED_HERE:
                raise StreamAborted(stream_id, WireErrorCode.STREAM_CLOSED, "the stream is closed")
            window = self.connection.send_window(stream_id)
            if window > 0:
                return window
            await self._wait_progress()

    def send_nowait(self, stream_id: int, message: Message, *, end_stream: bool = False) -> None:
        """Queue ``message`` without waiting for send credit (it goes out once there is some).
        Only for small, bounded replies (the guest's inline answers): the caller bounds memory.
        Does nothing once the connection or the stream is gone."""
        if self.closed is None and self.connection.stream_state(stream_id) in (
            StreamState.OPEN,
            StreamState.REMOTE_ENDED,
        ):
            self.connection.send(stream_id, message, end_stream=end_stream)
            self.wake()

    def end(self, stream_id: int) -> None:
        """Send END on a stream still open in our direction (else do nothing)."""
        if self.connection.stream_state(stream_id) in (StreamState.OPEN, StreamState.REMOTE_ENDED):
            self.connection.end_stream(stream_id)
            self.wake()

    def release(self, stream_id: int, code: WireErrorCode = WireErrorCode.CANCELLED) -> None:
        """Forget a stream we are done with. If we have not ended our side yet, reset it; if we
        have, leave it to close normally (a reset would drop our queued last frames), and
        acknowledge whatever the peer still sends on it."""
        self._inboxes.pop(stream_id, None)
        state = self.connection.stream_state(stream_id)
        if self.closed is None and state in (StreamState.OPEN, StreamState.REMOTE_ENDED):
            self.connection.reset_stream(stream_id, code)
            self.wake()

    def acknowledge(self, stream_id: int, size: int) -> None:
        if size and self.closed is None:
            self.connection.acknowledge(stream_id, size)
            self.wake()

    def goaway_now(self, code: WireErrorCode, message: str) -> None:
        """Send GOAWAY: the peer opens no new stream; the ones open may finish."""
        if self.closed is None:
            self.connection.close(code, message)
            self.wake()

    async def aclose(self) -> None:
        """Close the transport (whatever is queued is sent first, briefly)."""
        with anyio.CancelScope(shield=True):
            await self._final_flush()
            await self._stream.aclose()

    @property
    def open_streams(self) -> int:
        return len(self._inboxes)

    def wake(self) -> None:
        """Something may have been queued: let the writer look (unless the reader is about to
        write it itself: ``answer_in_reader``)."""
        if not (self._dispatching and self._answer_in_reader):
            self._wanted.set()

    # ---- internals --------------------------------------------------------------------------

    def _notify(self) -> None:
        event, self._progress = self._progress, anyio.Event()
        event.set()

    async def _wait_progress(self) -> None:
        await self._progress.wait()

    def _raise_if_closed(self) -> None:
        if self.closed is not None:
            raise self.closed
