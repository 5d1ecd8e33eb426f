"""``RemoteClient``: the async (anyio) client core, one connection to one guest.

Every engine operation is one stream: open it with the request, read the replies until END.
A streaming write is one stream too (``RemoteWriteStream``), and so is a process
(``RemoteProcess``, in ``_process``). The sync ``RemoteVfs``/``RemoteTerminal`` call into this
core through a blocking portal when built that way (``_sync``); ``open_remote_backends`` uses
the synchronous driver instead (``_blocking``). Both map requests and replies with
``_exchange``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio

from sa3p_engine import FileHash, FileStat, RunResult, SignalResult, TreeNode, WriteReceipt
from sa3p_host._address import Address, connect_address, parse_address
from sa3p_host._remote import _exchange as exchanges
from sa3p_host._remote._errors import RemoteConnectionError, RemoteOperationError
from sa3p_host._remote._exchange import Exchange, check_replies
from sa3p_host._remote._link import Inbox, Link
from sa3p_host._remote._process import RemoteProcess
from sa3p_protocol import Connection, ConnectionLimits, Message, Role, WireErrorCode
from sa3p_protocol.messages import (
    AttachRequest,
    ErrorReply,
    SpawnReply,
    SpawnRequest,
    WriteAbort,
    WriteChunkData,
    WriteCommit,
    WriteOpenRequest,
)

T = TypeVar("T")

__all__ = ["CLIENT_LIMITS", "RemoteClient", "RemoteWriteStream", "connect"]

CLIENT_LIMITS = ConnectionLimits(
    max_frame_payload=1024 * 1024,
    initial_stream_window=4 * 1024 * 1024,
    connection_window=16 * 1024 * 1024,
)
"""What a client accepts: replies (read data, process output) flow 4 MiB ahead per stream."""


class RemoteClient:
    """An open, authenticated connection to a guest. Create it with ``connect``.

    Methods mirror the engine's interfaces (async) and raise ``RemoteOperationError`` when the
    guest refuses an operation, ``RemoteConnectionError`` when the connection is gone.
    """

    def __init__(self, link: Link, address: Address) -> None:
        self._link = link
        self.address = address
        self.workspace = ""

    @property
    def connection_error(self) -> RemoteConnectionError | None:
        """Why the connection ended, once it has."""
        return self._link.closed

    async def request(self, message: Message) -> list[Message]:
        """Send one request; return its replies (END excluded).

        Raises:
            RemoteOperationError: the guest answered ERROR or reset the stream.
            RemoteConnectionError: the connection is gone.
        """
        inbox = await self._link.open_stream(message, end_stream=True)
        try:
            return await _replies(inbox)
        finally:
            self._link.release(inbox.stream_id)

    async def exchange(self, exchange: Exchange[T]) -> T:
        """Run one operation (see ``_exchange``): its request, then its decoded replies."""
        return exchange.decode(await self.request(exchange.request))

    # ---- filesystem -------------------------------------------------------------------------

    async def cwd(self) -> str:
        return await self.exchange(exchanges.cwd())

    async def stat(self, path: str) -> FileStat:
        return await self.exchange(exchanges.stat(path))

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        return await self.exchange(exchanges.read(path, offset, length))

    async def hash(self, path: str) -> str:
        return await self.exchange(exchanges.hash_file(path))

    async def list_tree(self, path: str) -> list[TreeNode]:
        return await self.exchange(exchanges.list_tree(path))

    async def recent_file_hashes(self, limit: int) -> list[FileHash]:
        return await self.exchange(exchanges.recent_file_hashes(limit))

    async def open_writer(self, path: str) -> RemoteWriteStream:
        """Start an atomic streaming write of ``path`` on the guest."""
        inbox = await self._link.open_stream(WriteOpenRequest(path))
        return RemoteWriteStream(self._link, inbox, path)

    # ---- terminal ---------------------------------------------------------------------------

    async def run(self, command: str, *, timeout: float) -> RunResult:
        return await self.exchange(exchanges.run(command, timeout))

    async def poll(self, pid: int, *, timeout: float) -> RunResult:
        return await self.exchange(exchanges.poll(pid, timeout))

    async def signal(self, pid: int, signal: int) -> SignalResult:
        return await self.exchange(exchanges.signal(pid, signal))

    async def active_pids(self) -> list[int]:
        return await self.exchange(exchanges.active_pids())

    async def close_terminal(self) -> None:
        await self.exchange(exchanges.close_terminal())

    # ---- interactive processes --------------------------------------------------------------

    async def spawn(self, request: SpawnRequest) -> RemoteProcess:
        """Start a process on the guest (PTY or pipes) and stream it; see ``RemoteProcess``."""
        return await self._start_process(request)

    async def attach(self, pid: int, from_offset: int = 0) -> RemoteProcess:
        """Reattach to a process (after a reconnect), replaying its output from byte
        ``from_offset`` as far as the guest's replay buffer still holds it."""
        return await self._start_process(AttachRequest(pid, from_offset))

    async def _start_process(self, request: SpawnRequest | AttachRequest) -> RemoteProcess:
        inbox = await self._link.open_stream(request)
        try:
            first = await inbox.receive()
        except BaseException:
            self._link.release(inbox.stream_id)
            raise
        if isinstance(first, SpawnReply):
            return RemoteProcess(self._link, inbox, first.pid)
        self._link.release(inbox.stream_id)
        if isinstance(first, ErrorReply):
            raise RemoteOperationError.from_reply(first)
        raise RemoteOperationError(WireErrorCode.PROTOCOL_ERROR, f"unexpected reply {first!r}")

    async def aclose(self) -> None:
        """Close the connection (processes started with ``spawn`` live on for the guest's grace
        period; ``attach`` from a new connection picks them up)."""
        await self._link.aclose()


async def _replies(inbox: Inbox) -> list[Message]:
    replies: list[Message] = []
    while (reply := await inbox.receive()) is not None:
        replies.append(reply)
    return check_replies(replies)


class RemoteWriteStream:
    """An atomic write on the guest: ``write`` streams VFS_WRITE_CHUNK frames (waiting for
    flow-control credit, so a slow disk slows the writer), ``commit`` sends the size and SHA-256
    of everything written; the guest renames only if both match. ``abort``, a reset or a lost
    connection commits nothing."""

    def __init__(self, link: Link, inbox: Inbox, path: str) -> None:
        self._link = link
        self._inbox = inbox
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        self._closed = False

    async def write(self, data: bytes) -> None:
        """Append ``data`` (any size; chunk boundaries carry no meaning)."""
        self.digest.update(data)
        await self.send_hashed(data)

    async def send_hashed(self, data: bytes) -> None:
        """Send ``data`` whose bytes the caller already added to ``digest`` (lets a sync caller
        hash in its own thread)."""
        self._check_open()
        self._raise_early_error()
        limit = self._link.connection.max_send_payload
        self.size += len(data)
        if len(data) <= limit:
            await self._link.send(self._inbox.stream_id, WriteChunkData(data))
            return
        view = memoryview(data)
        for start in range(0, len(data), limit):
            chunk = bytes(view[start : start + limit])
            await self._link.send(self._inbox.stream_id, WriteChunkData(chunk))

    async def commit(self) -> WriteReceipt:
        """Ask the guest to commit; return its receipt.

        Raises:
            RemoteOperationError: the guest refused (WRITE_MISMATCH, the disk's reason...).
        """
        self._check_open()
        self._closed = True
        commit = WriteCommit(self.size, self.digest.digest())
        try:
            await self._link.send(self._inbox.stream_id, commit, end_stream=True)
            return exchanges.receipt(await _replies(self._inbox))
        finally:
            self._link.release(self._inbox.stream_id)

    async def abort(self) -> None:
        """Discard the write; nothing changes on the guest. Does nothing once closed."""
        if self._closed:
            return
        self._closed = True
        try:
            with anyio.move_on_after(5.0):
                await self._link.send(self._inbox.stream_id, WriteAbort(), end_stream=True)
                await _replies(self._inbox)
        except (RemoteOperationError, RemoteConnectionError):
            pass  # aborting a write that already failed: nothing was committed either way
        finally:
            self._link.release(self._inbox.stream_id)

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RemoteOperationError(
                WireErrorCode.WRITER_CLOSED, f"the write of {self.path!r} is already closed"
            )

    def _raise_early_error(self) -> None:
        # The guest answers a failed chunk (disk full, a directory in the way...) at once; stop
        # streaming the rest of the body to nowhere.
        try:
            reply = self._inbox.receive_nowait()
        except anyio.WouldBlock:
            return
        if isinstance(reply, ErrorReply):
            self._closed = True
            self._link.release(self._inbox.stream_id)
            raise RemoteOperationError.from_reply(reply)


@asynccontextmanager
async def connect(
    address: Address | str,
    *,
    token: bytes | None = None,
    limits: ConnectionLimits | None = None,
) -> AsyncIterator[RemoteClient]:
    """Connect to a guest, complete the handshake and prove the token; yield the client.

    The connection is checked with one round trip (VFS_CWD) before it is yielded, so a refused
    token or a guest going away is reported here, before anything runs.

    Raises:
        RemoteConnectionError: cannot connect, the handshake or authentication failed.
        AddressError: ``address`` is not a valid address text.
    """
    target = parse_address(address) if isinstance(address, str) else address
    try:
        stream = await connect_address(target)
    except OSError as error:
        raise RemoteConnectionError(
            WireErrorCode.CONNECTION_LOST, f"cannot connect to {target}: {error.strerror or error}"
        ) from error
    link = Link(stream, Connection(Role.CLIENT, token=token, limits=limits or CLIENT_LIMITS))
    client = RemoteClient(link, target)
    failure: BaseException | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(link.run)
        try:
            await link.wait_handshake()
            client.workspace = await client.cwd()
        except (RemoteConnectionError, RemoteOperationError) as error:
            failure = _refusal(target, link, error)
        if failure is None:
            try:
                yield client
            except BaseException as error:  # re-raised below, outside the task group, as is
                failure = error
        await link.aclose()
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure


def _refusal(
    target: Address, link: Link, error: RemoteConnectionError | RemoteOperationError
) -> RemoteConnectionError:
    """The reason a connection was refused during setup, said plainly."""
    reason = link.closed or error
    code = reason.code if isinstance(reason, RemoteConnectionError) else error.code
    message = reason.message if isinstance(reason, RemoteConnectionError) else str(error)
    return RemoteConnectionError(code, f"the guest at {target} refused the connection: {message}")
