"""``RemoteVfs`` and ``RemoteTerminal``: the engine's (synchronous) interfaces over a guest.

Each method is one call into the async ``RemoteClient`` through an anyio ``BlockingPortal``;
the calling thread waits, the event loop does not. Two ways to get a portal:

From synchronous code (the ``sa3p`` command), ``open_remote_backends`` starts an event loop in a
thread of its own::

    with open_remote_backends("unix:/run/sa3p.sock", token=None) as (vfs, terminal):
        with Engine(vfs, terminal) as engine:
            ...

From async (anyio) code, connect inside your loop, and run the engine in a worker thread so it
never blocks the loop::

    async with connect("tcp:127.0.0.1:7000", token=token) as client:
        async with BlockingPortal() as portal:
            vfs, terminal = RemoteVfs(client, portal), RemoteTerminal(client, portal)
            outputs = await anyio.to_thread.run_sync(run_my_engine, vfs, terminal)
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from sa3p_engine import (
    ErrorCode,
    FileHash,
    FileStat,
    FileSystemError,
    RunResult,
    SignalResult,
    TerminalError,
    TerminalProvider,
    TreeNode,
    VirtualFileSystem,
    WriteReceipt,
)
from sa3p_host._address import Address
from sa3p_host._remote._client import RemoteClient, RemoteWriteStream, connect
from sa3p_host._remote._errors import (
    RemoteConnectionError,
    RemoteOperationError,
    as_backend_error,
)
from sa3p_host._terminal import LocalTerminal
from sa3p_host._vfs import LocalVfs

__all__ = [
    "RemoteFileWriter",
    "RemoteTerminal",
    "RemoteVfs",
    "open_remote_backends",
    "open_workspace_backends",
]

P = ParamSpec("P")
T = TypeVar("T")


def _call(
    portal: BlockingPortal,
    kind: type[FileSystemError] | type[TerminalError],
    where: str,
    function: Callable[P, Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    async def call() -> T:
        return await function(*args, **kwargs)

    try:
        return portal.call(call)
    except (RemoteOperationError, RemoteConnectionError) as error:
        raise as_backend_error(error, kind, where) from error
    except RuntimeError as error:  # the portal's loop is gone: the connection went with it
        raise kind(ErrorCode.CONNECTION_LOST, f"the connection to {where} is closed") from error


class RemoteFileWriter:
    """``FileWriter`` over a ``RemoteWriteStream``.

    Pipelined: ``write`` hashes its chunk in the caller's thread while the previous chunk is
    still being sent, then hands this one to the event loop and returns. At most one chunk is
    in flight, so order is kept and memory bounded; a failure of a chunk is raised by the next
    ``write`` or by ``commit`` (as ``LocalFileWriter`` reports a failed background write).
    """

    def __init__(self, stream: RemoteWriteStream, portal: BlockingPortal, where: str) -> None:
        self._stream = stream
        self._portal = portal
        self._where = where
        self._pending: Future[None] | None = None

    def write(self, data: bytes) -> None:
        self._stream.digest.update(data)  # hashlib drops the GIL: overlaps the pending send
        self._wait_pending()  # first: a failed chunk's own reason beats "already finished"
        self._check_open("write")
        self._pending = self._portal.start_task_soon(self._stream.send_hashed, data)

    def commit(self) -> WriteReceipt:
        self._wait_pending()
        self._check_open("commit")
        return self._do(self._stream.commit)

    def abort(self) -> None:
        with contextlib.suppress(FileSystemError):
            self._wait_pending()
        if not self._stream.closed:
            self._do(self._stream.abort)

    def _check_open(self, action: str) -> None:
        if self._stream.closed:
            raise FileSystemError(
                ErrorCode.WRITER_CLOSED,
                f"cannot {action} {self._stream.path!r}: the write is already finished",
                path=self._stream.path,
            )

    def _wait_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except (RemoteOperationError, RemoteConnectionError) as error:
            raise as_backend_error(error, FileSystemError, self._where) from error

    def _do(self, function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return _call(self._portal, FileSystemError, self._where, function, *args, **kwargs)


class RemoteVfs:
    """The engine's ``VirtualFileSystem`` on a guest's workspace.

    Args:
        client: a connected ``RemoteClient``.
        portal: a portal into the client's event loop (see the module docstring).
    """

    def __init__(self, client: RemoteClient, portal: BlockingPortal) -> None:
        self._client = client
        self._portal = portal
        self._where = str(client.address)

    def cwd(self) -> str:
        return self._client.workspace or self._do(self._client.cwd)

    def stat(self, path: str) -> FileStat:
        return self._do(self._client.stat, path)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise FileSystemError(
                ErrorCode.INVALID_PATH,
                f"cannot read {path!r}: offset and length must not be negative",
                path=path,
            )
        return self._do(self._client.read, path, offset, length)

    def open_writer(self, path: str) -> RemoteFileWriter:
        stream = self._do(self._client.open_writer, path)
        return RemoteFileWriter(stream, self._portal, self._where)

    def hash(self, path: str) -> str:
        return self._do(self._client.hash, path)

    def list_tree(self, path: str = "") -> list[TreeNode]:
        return self._do(self._client.list_tree, path)

    def recent_file_hashes(self, limit: int) -> list[FileHash]:
        return self._do(self._client.recent_file_hashes, limit)

    def _do(self, function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return _call(self._portal, FileSystemError, self._where, function, *args, **kwargs)


class RemoteTerminal:
    """The engine's ``TerminalProvider`` on a guest (served there by a ``LocalTerminal`` of
    this connection's own: ``close`` ends only what this client started)."""

    def __init__(self, client: RemoteClient, portal: BlockingPortal) -> None:
        self._client = client
        self._portal = portal
        self._where = str(client.address)

    def run(self, command: str, *, timeout: float) -> RunResult:
        return self._do(self._client.run, command, timeout=timeout)

    def poll(self, pid: int, *, timeout: float) -> RunResult:
        return self._do(self._client.poll, pid, timeout=timeout)

    def signal(self, pid: int, signal: int) -> SignalResult:
        return self._do(self._client.signal, pid, signal)

    def active_pids(self) -> list[int]:
        return self._do(self._client.active_pids)

    def close(self) -> None:
        """End every process this terminal started. A lost connection counts as closed: the
        guest ends a gone client's processes itself."""
        try:
            self._do(self._client.close_terminal)
        except TerminalError as error:
            if error.code is not ErrorCode.CONNECTION_LOST:
                raise

    def _do(self, function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return _call(self._portal, TerminalError, self._where, function, *args, **kwargs)


@contextmanager
def open_remote_backends(
    address: Address | str, token: bytes | None = None
) -> Iterator[tuple[RemoteVfs, RemoteTerminal]]:
    """Connect to a guest from synchronous code; yield ``(vfs, terminal)`` for an ``Engine``.

    The connection runs on an event loop in a thread of its own and is closed on exit.

    Raises:
        RemoteConnectionError: cannot connect, or the guest refused the token (raised before
            anything is executed).
        AddressError: ``address`` is not valid.
    """
    with start_blocking_portal() as portal:
        manager = portal.wrap_async_context_manager(connect(address, token=token))
        with manager as client:
            yield RemoteVfs(client, portal), RemoteTerminal(client, portal)


@contextmanager
def open_workspace_backends(
    workspace: str, connect_to: str | None = None, token: bytes | None = None
) -> Iterator[tuple[VirtualFileSystem, TerminalProvider]]:
    """The pair ``sa3p run`` drives: local (``LocalVfs``/``LocalTerminal`` on ``workspace``) or,
    with ``connect_to``, a guest's (``workspace`` is then ignored: the guest has its own).

    Raises:
        RemoteConnectionError: the guest cannot be reached or refused the token; nothing ran.
        AddressError: ``connect_to`` is not a valid address.
    """
    if connect_to is not None:
        with open_remote_backends(connect_to, token) as pair:
            yield pair
        return
    terminal = LocalTerminal(workspace)
    try:
        yield LocalVfs(workspace), terminal
    finally:
        terminal.close()
