"""What a stream means, written once for every driver: routines over a ``Channel``.

A routine is a generator that yields *wait conditions* (callables returning whether they
hold; they may raise the connection's or the stream's failure) and does its work between
them. A driver (``_links``: a blocking socket, or anyio) sends what is queued, waits until the
condition holds and resumes the routine (see ``sa3p_engine._routines``). So a request's
mapping, a streamed write and a streamed process exist once, whichever world runs them.

The client treats the guest as untrusted: every reply is bounded by what was asked (a read by
its length) and by the client's cap; a guest that sends more loses the connection.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Generator
from typing import Any, Protocol, TypeAlias, TypeVar

from sa3p_engine import OutputCallback, WriteReceipt
from sa3p_host._channel import Channel
from sa3p_host._live_output import maybe_relay
from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
from sa3p_host._wire_values import Exchange, one, write_receipt
from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol.messages import (
    AttachRequest,
    CloseStdinRequest,
    ErrorReply,
    PtyExit,
    PtyInput,
    PtyOutput,
    ResizeRequest,
    SignalReply,
    SignalRequest,
    SpawnReply,
    SpawnRequest,
    WriteAbort,
    WriteChunkData,
    WriteCommit,
    WriteOpenRequest,
    WriteReply,
)

__all__ = [
    "DEFAULT_REPLY_CAP",
    "ProcessEvent",
    "ProcessStream",
    "Steps",
    "Wait",
    "WriteStream",
    "call",
    "receive",
    "send",
    "send_bytes",
    "send_output",
    "until",
    "writable",
]

T = TypeVar("T")
Wait: TypeAlias = Callable[[], bool]
Steps: TypeAlias = Generator[Wait, Any, T]
"""A routine over a channel: yields wait conditions, returns a ``T``."""

DEFAULT_REPLY_CAP = 256 * 1024 * 1024
"""The most reply bytes a client accepts for one operation that names no bound of its own."""

ProcessEvent = PtyOutput | PtyExit | SignalReply


class Digest(Protocol):
    """What a write hashes its body with (``hashlib.sha256()``, or one hashing behind)."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def until(condition: Wait) -> Steps[None]:
    """Wait until ``condition`` holds (at once if it holds already: no driver step)."""
    if not condition():
        yield condition


def writable(channel: Channel, stream_id: int) -> Steps[int]:
    """Wait until the stream has send credit; how much."""
    window = channel.send_window(stream_id)
    if window <= 0:
        yield lambda: channel.send_window(stream_id) > 0
        window = channel.send_window(stream_id)
    return window


def send(channel: Channel, stream_id: int, message: Message, *, end: bool = False) -> Steps[None]:
    """Queue ``message`` once the stream has send credit."""
    yield from writable(channel, stream_id)
    channel.send(stream_id, message, end_stream=end)


def send_bytes(
    channel: Channel, stream_id: int, data: bytes, wrap: Callable[[bytes], Message]
) -> Steps[None]:
    """Send ``data`` as messages ``wrap(piece)``, each piece as large as the credit allows."""
    view = memoryview(data)
    position = 0
    while position < len(data):
        window = yield from writable(channel, stream_id)
        size = min(window, channel.connection.max_send_payload)
        whole = position == 0 and size >= len(data)  # the usual case: no copy
        channel.send(stream_id, wrap(data if whole else bytes(view[position : position + size])))
        position += size


def send_output(channel: Channel, stream_id: int, offset: int, data: bytes) -> Steps[None]:
    """Send ``data``, which starts at byte ``offset`` of a command's output, as PTY_OUTPUT
    messages, each as large as the credit allows (so a client that reads slowly slows the
    command, not the guest's memory)."""
    position = offset

    def piece(chunk: bytes) -> Message:
        nonlocal position
        message = PtyOutput(position, chunk)
        position += len(chunk)
        return message

    yield from send_bytes(channel, stream_id, data, piece)


def receive(channel: Channel, stream_id: int) -> Steps[Message | None]:
    """The stream's next message (acknowledged), or None once the peer ended it."""
    if not channel.ready(stream_id):
        yield lambda: channel.ready(stream_id)
    return channel.take(stream_id)


def call(
    channel: Channel,
    exchange: Exchange[T],
    *,
    cap: int | None = None,
    on_output: OutputCallback | None = None,
) -> Steps[T]:
    """Run one operation: open its stream, collect its replies, decode them. A ``live``
    exchange's PTY_OUTPUT messages go to ``on_output`` as they arrive (dropped without one);
    they are passed on, not kept, so they do not count against the reply bound.

    Raises:
        RemoteOperationError: the guest answered ERROR, or reset the stream.
        RemoteConnectionError: the connection is gone, or the guest sent more than allowed.
    """
    yield from until(channel.can_open)
    stream_id = channel.open(exchange.request, end_stream=True)
    try:
        limit = DEFAULT_REPLY_CAP if cap is None else cap
        if exchange.reply_limit is not None:
            limit = min(exchange.reply_limit, limit)
        relay = maybe_relay(on_output) if exchange.live else None
        replies = yield from _replies(channel, stream_id, limit, live=exchange.live, relay=relay)
        return exchange.decode(replies)
    finally:
        channel.release(stream_id)


_PTY_OUTPUT_OVERHEAD = 8
"""A PTY_OUTPUT payload's bytes besides its data (the offset)."""


def _replies(
    channel: Channel,
    stream_id: int,
    limit: int,
    *,
    live: bool = False,
    relay: Callable[[bytes], None] | None = None,
) -> Steps[list[Message]]:
    replies: list[Message] = []
    passed_on = 0
    arrived = functools.partial(channel.ready, stream_id)
    while True:
        if not arrived():
            yield arrived
        reply = channel.take(stream_id)
        if reply is None:
            return replies
        if isinstance(reply, ErrorReply):
            raise RemoteOperationError.from_reply(reply)
        if live and isinstance(reply, PtyOutput):
            passed_on += _PTY_OUTPUT_OVERHEAD + len(reply.data)
            if relay is not None:
                relay(reply.data)
            continue
        if channel.received_bytes(stream_id) - passed_on > limit:
            raise _overflow(channel, limit)
        replies.append(reply)


def _overflow(channel: Channel, limit: int) -> RemoteConnectionError:
    """Close a connection whose guest sent more than asked; the error says so."""
    text = f"the guest sent more than the {limit} reply bytes asked for; the connection was closed"
    channel.connection.close(WireErrorCode.PROTOCOL_ERROR, text)
    error = RemoteConnectionError(WireErrorCode.PROTOCOL_ERROR, text)
    channel.lose(error)
    return error


class WriteStream:
    """An atomic write on the guest: chunks as VFS_WRITE_CHUNK frames (each when there is
    credit, so a slow guest disk slows the writer), then the size and SHA-256 of everything
    sent; the guest renames only if both match. ``abort``, a reset or a lost connection commits
    nothing. A failure the guest reports early (disk full) is raised by the next ``write``.
    """

    def __init__(self, channel: Channel, path: str, digest: Digest | None = None) -> None:
        self._channel = channel
        self.path = path
        self._digest: Digest = digest or hashlib.sha256()
        self._size = 0
        self._stream_id: int | None = None
        self.closed = False

    def open(self) -> Steps[None]:
        yield from until(self._channel.can_open)
        self._stream_id = self._channel.open(WriteOpenRequest(self.path))

    def write(self, data: bytes) -> Steps[None]:
        """Append ``data`` (any size; chunk boundaries carry no meaning)."""
        stream_id = self._check_open()
        self._raise_early_error(stream_id)
        self._digest.update(data)
        self._size += len(data)
        yield from send_bytes(self._channel, stream_id, data, WriteChunkData)

    def commit(self) -> Steps[WriteReceipt]:
        """Ask the guest to commit; its receipt.

        Raises:
            RemoteOperationError: the guest refused (WRITE_MISMATCH, the disk's reason...).
        """
        stream_id = self._check_open()
        self.closed = True
        try:
            commit = WriteCommit(self._size, self._digest.digest())
            yield from send(self._channel, stream_id, commit, end=True)
            replies = yield from _replies(self._channel, stream_id, DEFAULT_REPLY_CAP)
            return write_receipt(one(replies, WriteReply))
        finally:
            self._channel.release(stream_id)

    def abort(self) -> Steps[None]:
        """Discard the write; nothing changes on the guest. Does nothing once closed."""
        if self.closed or self._stream_id is None:
            return
        self.closed = True
        try:
            yield from send(self._channel, self._stream_id, WriteAbort(), end=True)
            yield from _replies(self._channel, self._stream_id, DEFAULT_REPLY_CAP)
        except (RemoteOperationError, RemoteConnectionError):
            pass  # aborting a write that already failed: nothing was committed either way
        finally:
            self._channel.release(self._stream_id)

    def _check_open(self) -> int:
        if self.closed or self._stream_id is None:
            raise RemoteOperationError(
                WireErrorCode.WRITER_CLOSED, f"the write of {self.path!r} is already closed"
            )
        return self._stream_id

    def _raise_early_error(self, stream_id: int) -> None:
        reply = self._channel.peek(stream_id)
        if isinstance(reply, ErrorReply):
            self.closed = True
            self._channel.release(stream_id)
            raise RemoteOperationError.from_reply(reply)


class ProcessStream:
    """One process on the guest, streamed: output as ``PtyOutput(offset, data)`` (``offset``
    is where ``data`` starts in the whole output, so ``next_offset`` is what a reconnecting
    client passes to attach), signal results, then ``PtyExit``. Output is flow-controlled: a
    client that stops receiving stalls the process on the guest, not the guest's memory.
    """

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._stream_id = 0
        self.pid = 0
        self.next_offset = 0
        self.exit: PtyExit | None = None

    def start(self, request: SpawnRequest | AttachRequest) -> Steps[None]:
        """Open the stream and wait for the guest's SPAWN_RESULT."""
        yield from until(self._channel.can_open)
        self._stream_id = self._channel.open(request)
        try:
            first = yield from receive(self._channel, self._stream_id)
        except BaseException:
            self._channel.release(self._stream_id)
            raise
        if isinstance(first, SpawnReply):
            self.pid = first.pid
            return
        self._channel.release(self._stream_id)
        if isinstance(first, ErrorReply):
            raise RemoteOperationError.from_reply(first)
        raise RemoteOperationError(WireErrorCode.PROTOCOL_ERROR, f"unexpected reply {first!r}")

    def receive(self) -> Steps[ProcessEvent | None]:
        """The next output chunk, signal result or the exit; None once the stream ended."""
        message = yield from receive(self._channel, self._stream_id)
        match message:
            case None:
                self._channel.release(self._stream_id)
                return None
            case PtyOutput(offset=offset, data=data):
                self.next_offset = offset + len(data)
                return message
            case PtyExit():
                self.exit = message
                return message
            case SignalReply():
                return message
            case ErrorReply():
                raise RemoteOperationError.from_reply(message)
            case _:
                raise RemoteOperationError(
                    WireErrorCode.PROTOCOL_ERROR,
                    f"unexpected {type(message).__name__} on a process",
                )

    def write(self, data: bytes) -> Steps[None]:
        """Send ``data`` to the process's input (its terminal, or its stdin pipe)."""
        yield from send_bytes(self._channel, self._stream_id, data, PtyInput)

    def resize(self, rows: int, columns: int) -> Steps[None]:
        yield from send(self._channel, self._stream_id, ResizeRequest(rows, columns))

    def signal(self, signal: int) -> Steps[None]:
        """Signal the process group; its ``SignalReply`` comes through ``receive``."""
        yield from send(self._channel, self._stream_id, SignalRequest(0, signal))

    def close_stdin(self) -> Steps[None]:
        yield from send(self._channel, self._stream_id, CloseStdinRequest())

    def detach(self) -> None:
        """Stop streaming (RESET, CANCELLED): the process keeps running on the guest and can
        be reattached, within the guest's grace period once nobody is attached."""
        self._channel.release(self._stream_id)
