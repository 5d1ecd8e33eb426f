"""The two drivers of a ``Channel``: they move bytes and wait; routines decide.

``AsyncLink`` runs on anyio (the guest's connections, and ``RemoteClient``): one task reads
and dispatches, writers flush what is queued, a routine waiting for its condition sleeps until
the reader made progress. ``BlockingLink`` runs in the calling threads over a blocking socket,
h11-style, with no event loop (``RemoteVfs``/``RemoteTerminal``): whichever thread waits and
finds nobody reading becomes the reader. That is one system call each way per small operation;
on the machines measured here a thread hop into an event loop costs more than a whole round
trip (docs/ARCHITECTURE.md, "Why two drivers").

Both run the same routines (``_stream_routines``) with ``sa3p_engine._routines``: perform a
yielded wait condition = send what is queued, then wait until it holds.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TypeVar

import anyio
from anyio.abc import ByteStream

from sa3p_engine._routines import drive, drive_async
from sa3p_host._channel import Channel
from sa3p_host._remote_errors import RemoteConnectionError
from sa3p_host._stream_routines import Steps, Wait, receive, send
from sa3p_protocol import Message, WireErrorCode

__all__ = ["AsyncLink", "BlockingLink"]

T = TypeVar("T")
_RECEIVE_SIZE = 1024 * 1024
_SEND_BATCH = 256 * 1024
_FINAL_FLUSH_SECONDS = 2.0
_TRANSPORT_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def _lost(error: BaseException | str) -> RemoteConnectionError:
    return RemoteConnectionError(WireErrorCode.CONNECTION_LOST, f"connection lost: {error}")


class AsyncLink:
    """Drive ``channel`` over an anyio byte stream. Call ``run`` in a task.

    Args:
        stream: the transport.
        channel: the channel (a client's has its HELLO queued already).
        answer_in_reader: after dispatching what it read, the reader writes what that queued
            itself (inline answers, window updates), saving a task switch per request. Then the
            reader waits whenever the transport is full, so only a side whose peer always keeps
            reading may set it: the guest (clients read all the time; flow control bounds what
            they buffer).
    """

    def __init__(
        self, stream: ByteStream, channel: Channel, *, answer_in_reader: bool = False
    ) -> None:
        self.channel = channel
        self._stream = stream
        self._answer_in_reader = answer_in_reader
        self._wanted = anyio.Event()
        self._progress = anyio.Event()
        self._writing = False
        self._running = anyio.CancelScope()
        self._ended = anyio.Event()

    async def run(self) -> None:
        """Read and write until the transport ends, the connection fails or ``abort``, then
        close the transport."""
        self.wake()  # a client's HELLO is queued from the start
        try:
            with self._running:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._write_loop)
                    try:
                        await self._read_loop()
                    finally:
                        tasks.cancel_scope.cancel()
            await self.aclose()
        finally:
            self._ended.set()

    async def shut_down(self) -> None:
        """End the connection from this side: send what is queued, then end the stream, and let
        ``run`` read on until the peer closes too (at most ``_FINAL_FLUSH_SECONDS``). Closing
        the transport under a pending read instead can meet a race in anyio's Unix socket
        streams (a cancelled or resolved wait whose reader still fires: InvalidStateError)."""
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_FINAL_FLUSH_SECONDS), contextlib.suppress(Exception):
                await self.flush()
                await self._stream.send_eof()
            with anyio.move_on_after(_FINAL_FLUSH_SECONDS):
                await self._ended.wait()

    def abort(self) -> None:
        """End ``run`` from anywhere on the loop: it closes the transport itself (closing it
        from another task while this one uses it is not safe)."""
        self._running.cancel()

    async def run_steps(self, steps: Steps[T]) -> T:
        """Run a routine (see ``_stream_routines``) to its end."""
        result = await drive_async(steps, self._until)
        self.wake()
        return result

    async def send(self, stream_id: int, message: Message, *, end: bool = False) -> None:
        """Send ``message`` on ``stream_id`` once it has credit."""
        await self.run_steps(send(self.channel, stream_id, message, end=end))

    async def receive(self, stream_id: int) -> Message | None:
        """The stream's next message, or None once the peer ended it."""
        return await self.run_steps(receive(self.channel, stream_id))

    async def _until(self, ready: Wait) -> None:
        await self.flush()
        while not ready():
            await self._progress.wait()

    async def _read_loop(self) -> None:
        while self.channel.closed is None:
            try:
                data = await self._stream.receive(_RECEIVE_SIZE)
            except anyio.EndOfStream:
                data = b""
            except _TRANSPORT_ERRORS as error:
                self.channel.lose(_lost(error))
                break
            self.channel.receive_data(data)
            self._notify()
            if self._answer_in_reader:
                await self.flush()
            else:
                self.wake()

    async def _write_loop(self) -> None:
        while self.channel.closed is None:
            await self._wanted.wait()
            self._wanted = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued now. If a write is under way, that writer picks up what was
        queued before it returns."""
        if self._writing or self.channel.closed is not None:
            return
        self._writing = True
        try:
            while data := self.channel.data_to_send(_SEND_BATCH):
                await self._stream.send(data)
        except _TRANSPORT_ERRORS as error:
            self.channel.lose(_lost(error))
            self._notify()
        finally:
            self._writing = False

    def wake(self) -> None:
        """Something may have been queued from outside a routine: let the writer look."""
        self._wanted.set()

    async def aclose(self) -> None:
        """Send what is queued (a GOAWAY saying why, often), briefly, and close the transport."""
        with anyio.CancelScope(shield=True):
            data = self.channel.data_to_send(_SEND_BATCH)
            if data:
                with anyio.move_on_after(_FINAL_FLUSH_SECONDS), contextlib.suppress(Exception):
                    await self._stream.send(data)
            self.channel.lose(RemoteConnectionError(WireErrorCode.CONNECTION_LOST, "closed"))
            self._notify()
            await self._stream.aclose()

    def _notify(self) -> None:
        event, self._progress = self._progress, anyio.Event()
        event.set()


class BlockingLink:
    """Drive ``channel`` over a blocking socket from the calling threads.

    Thread safety: one ``threading.Condition`` guards the channel. A routine runs with it held;
    to wait, a thread either reads (with the condition released, then dispatches and wakes the
    others) or, when another thread is reading, sleeps on the condition.
    """

    def __init__(self, sock: socket.socket, channel: Channel) -> None:
        self.channel = channel
        self._sock = sock
        self._condition = threading.Condition(threading.Lock())
        self._reading = False
        self._sending = False

    def run_steps(self, steps: Steps[T]) -> T:
        """Run a routine (see ``_stream_routines``) to its end."""
        with self._condition:
            try:
                return drive(steps, self._until)
            finally:
                self._flush()

    def set_timeout(self, seconds: float | None) -> None:
        self._sock.settimeout(seconds)

    def close(self) -> None:
        """Say GOAWAY (best effort) and close the socket. Idempotent."""
        with self._condition:
            if self.channel.closed is None:
                self.channel.connection.close(WireErrorCode.NO_ERROR, "the client is done")
                self._flush()
                self._lose(
                    RemoteConnectionError(WireErrorCode.CONNECTION_LOST, "the client closed")
                )
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    # The condition is held, exactly once (not reentrant: releasing it around a blocking call
    # really lets the other threads in).

    def _until(self, ready: Wait) -> None:
        self._flush()
        while not ready():
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
            if failure is not None:
                self._lose(failure)
            else:
                self.channel.receive_data(data)
            self._flush()  # window updates, PONGs, frames that now have credit
            self._condition.notify_all()

    def _receive(self) -> tuple[bytes, RemoteConnectionError | None]:
        """The next bytes, or why the connection is lost. A timeout (``set_timeout``, while
        connecting) raises ``TimeoutError`` to the caller, as ``anyio.fail_after`` does."""
        try:
            return self._sock.recv(_RECEIVE_SIZE), None
        except TimeoutError:
            raise
        except OSError as error:
            return b"", _lost(error)

    def _flush(self) -> None:
        # One sender at a time, in order; it sends with the condition released, so a thread
        # reading meanwhile can still dispatch what it receives (window updates the sender may
        # be waiting for). What others queue meanwhile, the sender picks up before it stops.
        # A failed connection still owes the peer its GOAWAY saying why.
        if self._sending:
            return
        self._sending = True
        try:
            while data := self.channel.data_to_send(_SEND_BATCH):
                self._condition.release()
                try:
                    self._sock.sendall(data)
                finally:
                    self._condition.acquire()
        except OSError as error:
            self.channel.connection.data_to_send()  # dropped: nobody will read it now
            self._lose(_lost(error))
        finally:
            self._sending = False

    def _lose(self, reason: RemoteConnectionError) -> None:
        self.channel.lose(reason)
        self._condition.notify_all()
