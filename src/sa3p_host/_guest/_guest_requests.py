"""Serving one stream's request on the guest: dispatch to LocalVfs / LocalTerminal / processes.

Cheap, bounded operations are answered inline, on the event loop, as the request arrives
(``serve_inline``): cwd, stat, active pids, and reads of a regular file of at most
``INLINE_READ_LIMIT`` bytes. That saves a task and two thread hops per request (about half a
small round trip). The price: while one runs, the loop serves nobody else; each is a few
system calls on metadata or up to 64 KiB of (normally cached) data, so the stall is
microseconds, but a cold or network filesystem could make it milliseconds for every client.
Everything that can block long (bigger reads, hashes, listings, writes and their fsync,
terminal run/poll/close) runs in worker threads (``anyio.to_thread.run_sync``) under bounded
limiters shared by the whole guest, so one slow operation never stalls another client. A
backend's ``BackendError`` becomes an ``ERROR`` reply with the same code name and a ``path``
detail; anything else unexpected becomes ``INTERNAL_ERROR`` for that stream only.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from sa3p_engine import BackendError, FileHash, FileStat, NodeKind, RunResult, TreeNode
from sa3p_host._guest._processes import ProcessTable
from sa3p_host._guest._streaming import stream_process
from sa3p_host._guest._writes import serve_write
from sa3p_host._remote._errors import RemoteConnectionError, StreamAborted
from sa3p_host._remote._link import Inbox, Link
from sa3p_host._terminal import LocalTerminal
from sa3p_host._vfs import LocalVfs
from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol.messages import (
    AttachRequest,
    CloseTerminalRequest,
    CwdReply,
    CwdRequest,
    ErrorReply,
    HashEntry,
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
    RunReply,
    RunRequest,
    SignalReply,
    SignalRequest,
    SpawnRequest,
    StatReply,
    StatRequest,
    TreeEntry,
    TreeReply,
    WriteOpenRequest,
)

__all__ = ["INLINE_READ_LIMIT", "Limiters", "Operations"]

INLINE_READ_LIMIT = 64 * 1024
"""Reads of regular files up to this size are served on the event loop (see above)."""

T = TypeVar("T")
_BATCH_BYTES = 4 * 1024 * 1024
_RECORD_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class Limiters:
    """Worker-thread budgets shared by every connection of a guest."""

    files: anyio.CapacityLimiter
    terminal: anyio.CapacityLimiter

    @classmethod
    def create(cls, files: int = 32, terminal: int = 128) -> Limiters:
        return cls(anyio.CapacityLimiter(files), anyio.CapacityLimiter(terminal))


def error_reply(error: BackendError) -> ErrorReply:
    """A backend failure as the wire's ``ErrorReply`` (codes map by name)."""
    details = (("path", error.path),) if error.path else ()
    return ErrorReply(WireErrorCode[error.code.name], error.message, details)


class Operations:
    """Serves the requests of one connection.

    Args:
        link: the connection.
        vfs: this connection's filesystem (its ``recent_file_hashes`` are this client's).
        terminal: this connection's terminal (``close`` ends only this client's commands).
        processes: the guest's streamed processes.
        limiters: the guest's worker-thread budgets.
    """

    def __init__(
        self,
        link: Link,
        vfs: LocalVfs,
        terminal: LocalTerminal,
        processes: ProcessTable,
        limiters: Limiters,
    ) -> None:
        self._link = link
        self._vfs = vfs
        self._terminal = terminal
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
        self._link.send_nowait(stream_id, reply, end_stream=True)
        self._link.release(stream_id)
        return True

    def _inline_reply(self, message: Message) -> Message | None:
        match message:
            case CwdRequest():
                return CwdReply(self._vfs.cwd())
            case StatRequest(path=path):
                return _stat_reply(self._vfs.stat(path))
            case ListProcessesRequest():
                return ProcessListReply(tuple(self._terminal.active_pids()))
            case ReadRequest(path=path, offset=offset, length=length) if self._is_small(
                path, offset, length
            ):
                bound = INLINE_READ_LIMIT + 1 if length is None else length
                data = self._vfs.read(path, offset, bound)
                return ReadData(data) if len(data) <= INLINE_READ_LIMIT else None  # it grew
            case _:
                return None

    def _is_small(self, path: str, offset: int, length: int | None) -> bool:
        # A regular file only: opening a FIFO would block the loop until a writer comes.
        # (A file swapped for a FIFO between this check and the open still could: the price
        # of serving on the loop, for a race only the sandbox's own processes can run.)
        try:
            info = os.stat(os.path.join(self._vfs.cwd(), path))
        except (OSError, ValueError):
            return False  # the thread path reports the error properly
        if not stat.S_ISREG(info.st_mode) or offset < 0:
            return False
        wanted = info.st_size - offset if length is None else length
        return wanted <= INLINE_READ_LIMIT

    async def serve(self, stream_id: int, message: Message, inbox: Inbox) -> None:
        """Answer ``message`` on ``stream_id``; never raises for the peer's or the disk's
        failures (they become replies)."""
        try:
            await self._dispatch(stream_id, message, inbox)
        except BackendError as error:
            await self._reply(stream_id, error_reply(error))
        except (StreamAborted, RemoteConnectionError):
            pass  # the client reset the stream or went away: nobody is left to answer
        except Exception as error:  # a bug must cost this stream only, not the guest
            text = f"the guest failed serving {type(message).__name__}: {error!r}"
            await self._reply(stream_id, ErrorReply(WireErrorCode.INTERNAL_ERROR, text))
        finally:
            self._link.release(stream_id)

    async def _reply(self, stream_id: int, reply: ErrorReply) -> None:
        with contextlib.suppress(StreamAborted, RemoteConnectionError):
            await self._link.send(stream_id, reply, end_stream=True)

    async def _dispatch(self, stream_id: int, message: Message, inbox: Inbox) -> None:
        send = self._link.send
        match message:
            case StatRequest(path=path):
                info = await self._files(self._vfs.stat, path)
                await send(stream_id, _stat_reply(info), end_stream=True)
            case ReadRequest(path=path, offset=offset, length=length):
                data = await self._files(self._vfs.read, path, offset, length)
                await self._send_bytes(stream_id, data)
            case HashRequest(path=path):
                digest = await self._files(self._vfs.hash, path)
                await send(stream_id, HashReply(bytes.fromhex(digest)), end_stream=True)
            case CwdRequest():
                await send(stream_id, CwdReply(self._vfs.cwd()), end_stream=True)
            case ListTreeRequest(path=path):
                await self._send_tree(stream_id, await self._files(self._vfs.list_tree, path))
            case RecentHashesRequest(limit=limit):
                files = await self._files(self._vfs.recent_file_hashes, limit)
                await self._send_hashes(stream_id, files)
            case WriteOpenRequest(path=path):
                writer = await self._files(self._vfs.open_writer, path)
                await serve_write(
                    self._link, stream_id, inbox, writer, path=path, in_thread=self._files
                )
            case _:
                await self._dispatch_terminal(stream_id, message, inbox)

    async def _dispatch_terminal(self, stream_id: int, message: Message, inbox: Inbox) -> None:
        send = self._link.send
        terminal = self._terminal
        match message:
            case RunRequest(command=command, timeout=timeout):
                result = await self._term(lambda: terminal.run(command, timeout=timeout))
                await send(stream_id, _run_reply(result), end_stream=True)
            case PollRequest(pid=pid, timeout=timeout):
                result = await self._term(lambda: terminal.poll(pid, timeout=timeout))
                await send(stream_id, _run_reply(result), end_stream=True)
            case SignalRequest(pid=pid, signal=signal):
                outcome = await self._term(terminal.signal, pid, signal)
                reply = SignalReply(
                    pid=outcome.pid,
                    signal=outcome.signal,
                    exited=outcome.exited,
                    exit_code=outcome.exit_code,
                )
                await send(stream_id, reply, end_stream=True)
            case ListProcessesRequest():
                pids = await self._term(terminal.active_pids)
                await send(stream_id, ProcessListReply(tuple(pids)), end_stream=True)
            case CloseTerminalRequest():
                await self._term(terminal.close)
                await send(stream_id, OkReply(), end_stream=True)
            case SpawnRequest():
                managed = self._processes.spawn(message)
                await stream_process(
                    self._link, stream_id, inbox, self._processes, managed, from_offset=0
                )
            case AttachRequest(pid=pid, from_offset=offset):
                managed = self._processes.get(pid)
                await stream_process(
                    self._link, stream_id, inbox, self._processes, managed, from_offset=offset
                )
            case _:
                text = f"this guest does not serve {type(message).__name__}"
                await send(
                    stream_id,
                    ErrorReply(WireErrorCode.UNSUPPORTED_OPERATION, text),
                    end_stream=True,
                )

    # ---- bulk replies -------------------------------------------------------------------------

    async def _send_bytes(self, stream_id: int, data: bytes) -> None:
        view = memoryview(data)
        position = 0
        while position < len(data):
            window = await self._link.wait_writable(stream_id)
            size = min(window, self._link.connection.max_send_payload)
            await self._link.send(stream_id, ReadData(bytes(view[position : position + size])))
            position += size
        self._link.end(stream_id)

    async def _send_tree(self, stream_id: int, nodes: list[TreeNode]) -> None:
        entries = [
            TreeEntry(
                path=node.path,
                is_directory=node.kind is NodeKind.DIRECTORY,
                descendant_file_count=node.descendant_file_count,
                modified_recently=node.modified_recently,
            )
            for node in nodes
        ]
        for batch in self._batches(entries, lambda entry: len(entry.path.encode())):
            await self._link.send(stream_id, TreeReply(tuple(batch)))
        self._link.end(stream_id)

    async def _send_hashes(self, stream_id: int, files: list[FileHash]) -> None:
        entries = [HashEntry(item.path, bytes.fromhex(item.sha256)) for item in files]
        for batch in self._batches(entries, lambda entry: len(entry.path.encode()) + 32):
            await self._link.send(stream_id, RecentHashesReply(tuple(batch)))
        self._link.end(stream_id)

    def _batches(self, items: list[T], size: Callable[[T], int]) -> list[list[T]]:
        limit = self._link.connection.max_send_payload - _RECORD_OVERHEAD
        batches: list[list[T]] = [[]]
        used = 0
        for item in items:
            cost = size(item) + _RECORD_OVERHEAD
            if batches[-1] and used + cost > limit:
                batches.append([])
                used = 0
            batches[-1].append(item)
            used += cost
        return batches

    # ---- threads ----------------------------------------------------------------------------

    async def _files(self, function: Callable[..., T], *args: object) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiters.files)

    async def _term(self, function: Callable[..., T], *args: object) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiters.terminal)


def _stat_reply(info: FileStat) -> StatReply:
    return StatReply(
        path=info.path,
        is_directory=info.kind is NodeKind.DIRECTORY,
        size=info.size,
        mtime=info.mtime,
    )


def _run_reply(result: RunResult) -> RunReply:
    return RunReply(
        pid=result.pid,
        head=result.head,
        tail=result.tail,
        total_bytes=result.total_bytes,
        exit_code=result.exit_code,
        duration=result.duration,
    )
