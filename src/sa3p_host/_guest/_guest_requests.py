"""Serving one stream's request on the guest: dispatch to LocalVfs / LocalTerminal / processes.

Cheap, bounded operations are answered inline, on the event loop, as the request arrives
(``serve_inline``): cwd, stat, active pids, and reads whose answer is at most
``INLINE_READ_LIMIT`` bytes (a small file read whole, whatever length was asked). That saves a
task and two thread hops per request (most of a small round trip). The price: while one runs,
the loop serves nobody else; each is a few system calls on metadata or up to 64 KiB of
(normally cached) data, so the stall is microseconds, but a cold or network filesystem could
make it milliseconds for every client. ``LocalVfs`` opens regular files only, without
blocking, so a FIFO or a device is refused at once rather than stalling the loop.
Everything that can block long (bigger reads, hashes, listings, writes and their fsync,
terminal run/poll/close) runs in worker threads (``anyio.to_thread.run_sync``) under bounded
limiters shared by the whole guest, so one slow operation never stalls another client. A
backend's ``BackendError`` becomes an ``ERROR`` reply with the same code name and a ``path``
detail; anything else unexpected becomes ``INTERNAL_ERROR`` for that stream only.

On a connection with the ``live_output`` feature, a run or poll streams the command's output
as ``PTY_OUTPUT(offset, data)`` messages before its ``RUN_RESULT``: the terminal's worker
thread hands each piece to the event loop and waits until it is queued under the stream's
flow-control credit, so a client that reads slowly slows the command (its pipe fills), not the
guest's memory.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from sa3p_engine import BackendError, FileHash, RunResult, TreeNode
from sa3p_host._guest._guest_writes import serve_write
from sa3p_host._guest._process_streaming import stream_process
from sa3p_host._guest._process_table import ProcessTable
from sa3p_host._links import AsyncLink
from sa3p_host._local._local_terminal import LocalTerminal
from sa3p_host._local._local_vfs import LocalVfs
from sa3p_host._remote_errors import RemoteConnectionError, StreamAborted
from sa3p_host._stream_routines import send_output, writable
from sa3p_host._wire_values import (
    batches,
    encoded_size,
    error_reply,
    hash_entry,
    run_reply,
    signal_reply,
    stat_reply,
    tree_entry,
)
from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol.messages import (
    AttachRequest,
    CloseTerminalRequest,
    CwdReply,
    CwdRequest,
    ErrorReply,
    HashReply,
    HashRequest,
    ListProcessesRequest,
    ListTreeRequest,
    OkReply,
    PollRequest,
    ProcessListReply,
    ReadData,
    ReadRequest,
    RecentHashesReply,
    RecentHashesRequest,
    RecentlyModifiedReply,
    RecentlyModifiedRequest,
    RemoveRequest,
    RunRequest,
    SignalRequest,
    SpawnRequest,
    StatRequest,
    TreeReply,
    WriteOpenRequest,
)

__all__ = ["INLINE_READ_LIMIT", "Limiters", "Operations"]

INLINE_READ_LIMIT = 64 * 1024
"""Reads of regular files up to this size are served on the event loop (see above)."""

T = TypeVar("T")
_RECORD_OVERHEAD = 64
_READ_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limiters:
    """Worker-thread budgets shared by every connection of a guest."""

    files: anyio.CapacityLimiter
    terminal: anyio.CapacityLimiter

    @classmethod
    def create(cls, files: int = 32, terminal: int = 128) -> Limiters:
        return cls(anyio.CapacityLimiter(files), anyio.CapacityLimiter(terminal))


class Operations:
    """Serves the requests of one connection.

    Args:
        link: the connection.
        vfs: this connection's filesystem (its ``recent_file_hashes`` are this client's).
        terminal: this connection's terminal (``close`` ends only this client's commands).
        processes: the guest's streamed processes.
        limiters: the guest's worker-thread budgets.
        keeps_processes: the terminal is a session's: a client's CLOSE_TERMINAL leaves its
            processes running (they end with the session).
        live_output: the client asked for live output (the ``live_output`` feature).
    """

    def __init__(
        self,
        link: AsyncLink,
        vfs: LocalVfs,
        terminal: LocalTerminal,
        processes: ProcessTable,
        limiters: Limiters,
        *,
        keeps_processes: bool = False,
        live_output: bool = False,
    ) -> None:
        self.keeps_processes = keeps_processes
        self._live_output = live_output
        self._link = link
        self._channel = link.channel
        self._vfs = vfs
        self.terminal = terminal
        self._processes = processes
        self._limiters = limiters

    def serve_inline(self, stream_id: int, message: Message) -> bool:
        """Answer ``message`` at once, on the loop, if it is cheap and bounded; else False
        (then ``serve`` it in a task)."""
        try:
            reply = self._inline_reply(message)
        except BackendError as error:
            reply = error_reply(error)
        except Exception:  # let the task path report it, as for any request
            return False
        if reply is None:
            return False
        self._channel.send(stream_id, reply, end_stream=True)  # small: no credit needed
        self._channel.release(stream_id)
        return True

    def _inline_reply(self, message: Message) -> Message | None:
        match message:
            case CwdRequest():
                return CwdReply(self._vfs.cwd())
            case StatRequest(path=path):
                return stat_reply(self._vfs.stat(path))
            case ListProcessesRequest():
                return ProcessListReply(tuple(self.terminal.active_pids()))
            case ReadRequest(path=path, offset=offset, length=length):
                return self._small_read(path, offset, length)
            case _:
                return None

    def _small_read(self, path: str, offset: int, length: int | None) -> ReadData | None:
        """The whole answer to a read if it is at most ``INLINE_READ_LIMIT`` bytes (a short
        read means the file ended); None: serve it in a task. ``LocalVfs`` opens regular files
        only, without blocking, so a FIFO cannot stall the loop here."""
        bound = INLINE_READ_LIMIT + 1 if length is None else min(length, INLINE_READ_LIMIT + 1)
        data = self._vfs.read(path, offset, bound)
        complete = len(data) < bound or len(data) == length
        return ReadData(data) if complete and len(data) <= INLINE_READ_LIMIT else None

    async def serve(self, stream_id: int, message: Message) -> None:
        """Answer ``message`` on ``stream_id``; never raises for the peer's or the disk's
        failures (they become replies)."""
        try:
            await self._dispatch(stream_id, message)
        except BackendError as error:
            await self._reply(stream_id, error_reply(error))
        except (StreamAborted, RemoteConnectionError):
            pass  # the client reset the stream or went away: nobody is left to answer
        except Exception as error:  # a bug must cost this stream only, not the guest
            text = f"the guest failed serving {type(message).__name__}: {error!r}"
            await self._reply(stream_id, ErrorReply(WireErrorCode.INTERNAL_ERROR, text))
        finally:
            self._channel.release(stream_id)
            self._link.wake()

    async def _reply(self, stream_id: int, reply: ErrorReply) -> None:
        with contextlib.suppress(StreamAborted, RemoteConnectionError):
            await self._link.send(stream_id, reply, end=True)

    async def _dispatch(self, stream_id: int, message: Message) -> None:
        reply = await self._answer(stream_id, message)
        if reply is not None:
            await self._link.send(stream_id, reply, end=True)
            return
        match message:
            case ReadRequest(path=path, offset=offset, length=length):
                await self._stream_read(stream_id, path, offset, length)
            case ListTreeRequest(path=path):
                nodes: list[TreeNode] = await self._files(self._vfs.list_tree, path)
                await self._send_batches(stream_id, [tree_entry(node) for node in nodes], TreeReply)
            case RecentHashesRequest(limit=limit):
                files: list[FileHash] = await self._files(self._vfs.recent_file_hashes, limit)
                hashes = [hash_entry(item) for item in files]
                await self._send_batches(stream_id, hashes, RecentHashesReply)
            case WriteOpenRequest(path=path):
                writer = await self._files(self._vfs.open_writer, path)
                await serve_write(self._link, stream_id, writer, path=path, in_thread=self._files)
            case SpawnRequest() | AttachRequest():
                managed = (
                    self._processes.spawn(message)
                    if isinstance(message, SpawnRequest)
                    else self._processes.get(message.pid)
                )
                offset = message.from_offset if isinstance(message, AttachRequest) else 0
                await stream_process(
                    self._link, stream_id, self._processes, managed, from_offset=offset
                )
            case _:
                text = f"this guest does not serve {type(message).__name__}"
                error = ErrorReply(WireErrorCode.UNSUPPORTED_OPERATION, text)
                await self._link.send(stream_id, error, end=True)

    async def _answer(self, stream_id: int, message: Message) -> Message | None:
        """The one reply of a request that has one (None: it streams, or is not served)."""
        vfs, terminal = self._vfs, self.terminal
        match message:
            case StatRequest(path=path):
                return stat_reply(await self._files(vfs.stat, path))
            case HashRequest(path=path):
                return HashReply(bytes.fromhex(await self._files(vfs.hash, path)))
            case CwdRequest():
                return CwdReply(vfs.cwd())
            case RemoveRequest(path=path):
                await self._files(vfs.remove, path)
                return OkReply()
            case RecentlyModifiedRequest(paths=paths):
                return RecentlyModifiedReply(tuple(await self._files(vfs.recently_modified, paths)))
            case RunRequest(command=command, timeout=timeout):
                return run_reply(await self._watched(stream_id, terminal.run, command, timeout))
            case PollRequest(pid=pid, timeout=timeout):
                return run_reply(await self._watched(stream_id, terminal.poll, pid, timeout))
            case SignalRequest(pid=pid, signal=signal):
                return signal_reply(await self._term(terminal.signal, pid, signal))
            case ListProcessesRequest():
                return ProcessListReply(tuple(await self._term(terminal.active_pids)))
            case CloseTerminalRequest():
                if not self.keeps_processes:  # in a session, the processes are the session's
                    await self._term(terminal.close)
                return OkReply()
            case _:
                return None

    async def _watched(
        self,
        stream_id: int,
        method: Callable[..., RunResult],
        target: str | int,
        timeout: float,
    ) -> RunResult:
        """A terminal's run or poll in a worker thread; on a live connection, its output
        streamed on ``stream_id`` as it comes."""
        if not self._live_output:
            return await self._term(functools.partial(method, target, timeout=timeout))
        on_output = self._live_sender(stream_id)
        return await self._term(
            functools.partial(method, target, timeout=timeout, on_output=on_output)
        )

    def _live_sender(self, stream_id: int) -> Callable[[bytes], None]:
        """The ``on_output`` of a run on ``stream_id``: called in the terminal's worker thread,
        it sends each piece from the event loop, returning once it is queued (paced by the
        stream's credit). If the client is gone it raises, which ends the live output only."""
        offset = 0

        def send(data: bytes) -> None:
            nonlocal offset
            steps = send_output(self._channel, stream_id, offset, data)
            anyio.from_thread.run(self._link.run_steps, steps)
            offset += len(data)

        return send

    async def _stream_read(
        self, stream_id: int, path: str, offset: int, length: int | None
    ) -> None:
        """Read block by block, each when the stream has credit for it: memory holds one
        block, whatever the range (a slow client slows the reads, not the guest's memory)."""
        left = length
        while left is None or left > 0:
            window = await self._link.run_steps(writable(self._channel, stream_id))
            size = min(window, self._channel.connection.max_send_payload, _READ_BLOCK)
            size = size if left is None else min(size, left)
            data: bytes = await self._files(self._vfs.read, path, offset, size)
            if data:
                self._channel.send(stream_id, ReadData(data))
            if len(data) < size:
                break
            offset += len(data)
            left = None if left is None else left - len(data)
        self._channel.end(stream_id)

    async def _send_batches(
        self, stream_id: int, entries: list[T], reply: Callable[[tuple[T, ...]], Message]
    ) -> None:
        """``entries`` in replies that each fit one frame (at least one reply, maybe empty)."""
        limit = self._channel.connection.max_send_payload - _RECORD_OVERHEAD

        def cost(entry: T) -> int:
            return encoded_size(getattr(entry, "path", "")) + 2 * _RECORD_OVERHEAD

        for batch in batches(entries, limit, cost) or [()]:
            await self._link.send(stream_id, reply(batch))
        self._channel.end(stream_id)

    # ---- threads ----------------------------------------------------------------------------

    async def _files(self, function: Callable[..., T], *args: object) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiters.files)

    async def _term(self, function: Callable[..., T], *args: object) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiters.terminal)
