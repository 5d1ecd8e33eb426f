"""``RemoteVfs`` and ``RemoteTerminal``: the engine's (synchronous) interfaces over a guest.

Two drivers serve them (PROTOCOL.md §8), both mapping requests and replies with ``_exchange``:

From synchronous code (the ``sa3p`` command, an ``Engine``), ``open_remote_backends`` uses the
``BlockingClient``: the calling thread drives the connection itself, with no event loop::

    with open_remote_backends("unix:/run/sa3p.sock", token=None) as (vfs, terminal):
        with Engine(vfs, terminal) as engine:
            ...

From async (anyio) code, connect inside your loop, and run the engine in a worker thread so it
never blocks the loop; each call goes through a ``BlockingPortal`` into the async core::

    async with connect("tcp:127.0.0.1:7000", token=token) as client:
        async with BlockingPortal() as portal:
            vfs, terminal = RemoteVfs(client, portal), RemoteTerminal(client, portal)
            outputs = await anyio.to_thread.run_sync(run_my_engine, vfs, terminal)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias, TypeVar

from anyio.from_thread import BlockingPortal

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
)
from sa3p_host._address import Address, parse_address
from sa3p_host._remote import _exchange as exchanges
from sa3p_host._remote._blocking import BlockingClient
from sa3p_host._remote._client import CLIENT_LIMITS, RemoteClient
from sa3p_host._remote._errors import (
    RemoteConnectionError,
    RemoteOperationError,
    as_backend_error,
)
from sa3p_host._remote._exchange import Exchange
from sa3p_host._remote._writers import BlockingFileWriter, RemoteFileWriter
from sa3p_host._terminal import LocalTerminal
from sa3p_host._vfs import LocalVfs
from sa3p_protocol import WireErrorCode as RemoteCode

__all__ = [
    "RemoteTerminal",
    "RemoteVfs",
    "open_remote_backends",
    "open_workspace_backends",
]

T = TypeVar("T")


class _PortalDriver:
    """Engine operations through the async core, from a thread outside its event loop."""

    def __init__(self, client: RemoteClient, portal: BlockingPortal) -> None:
        self.client = client
        self.portal = portal
        self.workspace = client.workspace
        self.address = client.address

    def call(self, exchange: Exchange[T]) -> T:
        try:
            return self.portal.call(self.client.exchange, exchange)
        except RuntimeError as error:  # the portal's loop is gone: the connection went with it
            raise RemoteConnectionError(
                RemoteCode.CONNECTION_LOST, "the connection's event loop is closed"
            ) from error

    def open_writer(self, path: str, where: str) -> RemoteFileWriter:
        """A writer whose chunks go through the portal."""
        stream = self.portal.call(self.client.open_writer, path)
        return RemoteFileWriter(stream, self.portal, where)


_Driver: TypeAlias = BlockingClient | _PortalDriver


def _driver(client: RemoteClient | BlockingClient, portal: BlockingPortal | None) -> _Driver:
    if isinstance(client, BlockingClient):
        return client
    if portal is None:
        raise TypeError("a RemoteClient needs a BlockingPortal into its event loop")
    return _PortalDriver(client, portal)


def _call(
    driver: _Driver,
    kind: type[FileSystemError] | type[TerminalError],
    exchange: Exchange[T],
) -> T:
    try:
        return driver.call(exchange)
    except (RemoteOperationError, RemoteConnectionError) as error:
        raise as_backend_error(error, kind, str(driver.address)) from error


class RemoteVfs:
    """The engine's ``VirtualFileSystem`` on a guest's workspace.

    Args:
        client: a ``BlockingClient`` (what ``open_remote_backends`` gives), or a connected
            async ``RemoteClient`` together with ``portal``.
        portal: a portal into the ``RemoteClient``'s event loop (see the module docstring).
    """

    def __init__(
        self, client: RemoteClient | BlockingClient, portal: BlockingPortal | None = None
    ) -> None:
        self._driver = _driver(client, portal)
        self._where = str(client.address)

    def cwd(self) -> str:
        return self._driver.workspace or self._do(exchanges.cwd())

    def stat(self, path: str) -> FileStat:
        return self._do(exchanges.stat(path))

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise FileSystemError(
                ErrorCode.INVALID_PATH,
                f"cannot read {path!r}: offset and length must not be negative",
                path=path,
            )
        return self._do(exchanges.read(path, offset, length))

    def open_writer(self, path: str) -> RemoteFileWriter | BlockingFileWriter:
        try:
            return self._driver.open_writer(path, self._where)
        except (RemoteOperationError, RemoteConnectionError) as error:
            raise as_backend_error(error, FileSystemError, self._where) from error

    def hash(self, path: str) -> str:
        return self._do(exchanges.hash_file(path))

    def list_tree(self, path: str = "") -> list[TreeNode]:
        return self._do(exchanges.list_tree(path))

    def recent_file_hashes(self, limit: int) -> list[FileHash]:
        return self._do(exchanges.recent_file_hashes(limit))

    def _do(self, exchange: Exchange[T]) -> T:
        return _call(self._driver, FileSystemError, exchange)


class RemoteTerminal:
    """The engine's ``TerminalProvider`` on a guest (served there by a ``LocalTerminal`` of
    this connection's own: ``close`` ends only what this client started).

    Args:
        client: as for ``RemoteVfs``.
        portal: as for ``RemoteVfs``.
    """

    def __init__(
        self, client: RemoteClient | BlockingClient, portal: BlockingPortal | None = None
    ) -> None:
        self._driver = _driver(client, portal)

    def run(self, command: str, *, timeout: float) -> RunResult:
        return self._do(exchanges.run(command, timeout))

    def poll(self, pid: int, *, timeout: float) -> RunResult:
        return self._do(exchanges.poll(pid, timeout))

    def signal(self, pid: int, signal: int) -> SignalResult:
        return self._do(exchanges.signal(pid, signal))

    def active_pids(self) -> list[int]:
        return self._do(exchanges.active_pids())

    def close(self) -> None:
        """End every process this terminal started. A lost connection counts as closed: the
        guest ends a gone client's processes itself."""
        try:
            self._do(exchanges.close_terminal())
        except TerminalError as error:
            if error.code is not ErrorCode.CONNECTION_LOST:
                raise

    def _do(self, exchange: Exchange[T]) -> T:
        return _call(self._driver, TerminalError, exchange)


@contextmanager
def open_remote_backends(
    address: Address | str, token: bytes | None = None
) -> Iterator[tuple[RemoteVfs, RemoteTerminal]]:
    """Connect to a guest from synchronous code; yield ``(vfs, terminal)`` for an ``Engine``.

    The connection is driven by the calling thread(s) (``BlockingClient``: no event loop, one
    system call each way per small operation) and is closed on exit.

    Raises:
        RemoteConnectionError: cannot connect, or the guest refused the token (raised before
            anything is executed).
        AddressError: ``address`` is not valid.
    """
    target = parse_address(address) if isinstance(address, str) else address
    client = BlockingClient.connect(target, token=token, limits=CLIENT_LIMITS)
    try:
        yield RemoteVfs(client), RemoteTerminal(client)
    finally:
        client.close()


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
