"""``RemoteVfs`` and ``RemoteTerminal``: the engine's synchronous interfaces on a guest.

``open_remote_backends(address, token)`` connects from synchronous code (the ``sa3p`` command,
an ``Engine``) with a ``BlockingLink``: the calling threads drive the connection, no event
loop::

    with open_remote_backends("unix:/run/sa3p.sock") as (vfs, terminal):
        with Engine(vfs, terminal) as engine:
            ...

Async code uses ``connect`` (``_remote_client``) and an ``AsyncEngine``. Both run the same
routines (``_stream_routines``).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sa3p_engine import (
    ErrorCode,
    FileHash,
    FileStat,
    FileSystemError,
    OutputCallback,
    RunResult,
    SignalResult,
    TerminalError,
    TreeNode,
    WriteReceipt,
)
from sa3p_host import _wire_values as wire
from sa3p_host._links import BlockingLink
from sa3p_host._remote._client_setup import (
    ANSWER_SECONDS,
    HANDSHAKE_SECONDS,
    client_channel,
    setup_failure,
    unreachable,
    unsupported,
)
from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
from sa3p_host._stream_routines import Steps, WriteStream, call, until
from sa3p_host._transport import Address, connect_socket, parse_address
from sa3p_protocol import ConnectionLimits, Feature

__all__ = ["RemoteFileWriter", "RemoteTerminal", "RemoteVfs", "open_remote_backends"]

T = TypeVar("T")
_HASH_BEHIND_AFTER = 1 << 20
_HASH_BACKLOG = 4 << 20
"""At most this many bytes wait for the hashing thread: a writer that outruns it waits."""


class _Connection:
    """One blocking connection: runs routines, and says failures in the engine's terms."""

    def __init__(self, link: BlockingLink, address: Address, workspace: str) -> None:
        self.link = link
        self.address = address
        self.workspace = workspace

    def run(self, steps: Steps[T], kind: type[FileSystemError] | type[TerminalError]) -> T:
        try:
            return self.link.run_steps(steps)
        except (RemoteOperationError, RemoteConnectionError) as error:
            raise wire.as_backend_error(error, kind, str(self.address)) from error

    def offers(self, feature: Feature) -> bool:
        """Whether both sides offered ``feature`` at the handshake."""
        return feature in self.link.channel.connection.features


class RemoteVfs:
    """The engine's ``VirtualFileSystem`` on a guest's workspace (see
    ``open_remote_backends``)."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    def cwd(self) -> str:
        return self._connection.workspace

    def stat(self, path: str) -> FileStat:
        return self._call(wire.stat(path))

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise FileSystemError(
                ErrorCode.INVALID_PATH,
                f"cannot read {path!r}: offset and length must not be negative",
                path=path,
            )
        return self._call(wire.read(path, offset, length))

    def open_writer(self, path: str) -> RemoteFileWriter:
        return RemoteFileWriter(self._connection, path)

    def hash(self, path: str) -> str:
        return self._call(wire.hash_file(path))

    def list_tree(self, path: str = "") -> list[TreeNode]:
        return self._call(wire.list_tree(path))

    def recent_file_hashes(self, limit: int) -> list[FileHash]:
        return self._call(wire.recent_file_hashes(limit))

    def recently_modified(self, paths: Sequence[str]) -> list[str]:
        """As ``VirtualFileSystem.recently_modified`` (an older guest: ``FileSystemError``)."""
        if not self._connection.offers(Feature.RECENTLY_MODIFIED):
            error = unsupported("VFS_RECENTLY_MODIFIED")
            raise wire.as_backend_error(error, FileSystemError, str(self._connection.address))
        recent: list[str] = []
        channel = self._connection.link.channel
        for batch in wire.path_batches(paths, channel.connection.max_send_payload):
            found: list[str] = self._call(wire.recently_modified(batch))
            recent += found
        return recent

    def remove(self, path: str) -> None:
        self._call(wire.remove(path))

    def _call(self, exchange: wire.Exchange[T]) -> T:
        return self._connection.run(call(self._connection.link.channel, exchange), FileSystemError)


class RemoteTerminal:
    """The engine's ``TerminalProvider`` on a guest (served there by a ``LocalTerminal`` of
    this connection's own: ``close`` ends only what this client started)."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    def run(
        self, command: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        """As ``TerminalProvider.run``; ``on_output`` gets output only on a connection opened
        with ``live_output``."""
        return self._call(wire.run(command, timeout), on_output)

    def poll(
        self, pid: int, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        return self._call(wire.poll(pid, timeout), on_output)

    def signal(self, pid: int, signal: int) -> SignalResult:
        return self._call(wire.signal(pid, signal))

    def active_pids(self) -> list[int]:
        return self._call(wire.active_pids())

    def close(self) -> None:
        """End every process this terminal started. A lost connection counts as closed: the
        guest ends a gone client's processes itself."""
        try:
            self._call(wire.close_terminal())
        except TerminalError as error:
            if error.code is not ErrorCode.CONNECTION_LOST:
                raise

    def _call(self, exchange: wire.Exchange[T], on_output: OutputCallback | None = None) -> T:
        steps = call(self._connection.link.channel, exchange, on_output=on_output)
        return self._connection.run(steps, TerminalError)


class _HashBehind:
    """SHA-256 of a write's body, computed in a helper thread once the body is large, so
    hashing overlaps sending (``hashlib`` releases the GIL on large buffers). The chunks waiting
    for it are bounded (``_HASH_BACKLOG``), so a busy machine slows the writer, never grows it."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._size = 0
        self._executor: ThreadPoolExecutor | None = None
        self._waiting: deque[tuple[Future[None], int]] = deque()
        self._backlog = 0

    def update(self, data: bytes, /) -> None:
        self._size += len(data)
        if self._size < _HASH_BEHIND_AFTER and self._executor is None:
            self._digest.update(data)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sa3p-hash")
        self._waiting.append((self._executor.submit(self._digest.update, bytes(data)), len(data)))
        self._backlog += len(data)
        while self._backlog > _HASH_BACKLOG:
            hashed, size = self._waiting.popleft()
            hashed.result()
            self._backlog -= size

    def digest(self) -> bytes:
        self.finish()
        return self._digest.digest()

    def finish(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
            self._waiting.clear()
            self._backlog = 0


class RemoteFileWriter:
    """``FileWriter`` on the guest: ``write`` sends in the caller's thread, waiting for
    flow-control credit (a slow guest disk slows the writer; memory stays bounded)."""

    def __init__(self, connection: _Connection, path: str) -> None:
        self._connection = connection
        self._hash = _HashBehind()
        self._stream = WriteStream(connection.link.channel, path, self._hash)
        self._run(self._stream.open())

    def write(self, data: bytes) -> None:
        """Append ``data`` (any size; chunk boundaries carry no meaning)."""
        self._run(self._stream.write(bytes(data)))

    def commit(self) -> WriteReceipt:
        """Ask the guest to commit (it renames only if size and SHA-256 match).

        Raises:
            FileSystemError: the guest refused (WRITE_MISMATCH, the disk's reason...) or the
                connection is gone; nothing was committed.
        """
        return self._run(self._stream.commit())

    def abort(self) -> None:
        """Discard the write; nothing changes on the guest. Does nothing once closed."""
        self._hash.finish()
        self._run(self._stream.abort())

    def _run(self, steps: Steps[T]) -> T:
        return self._connection.run(steps, FileSystemError)


@contextmanager
def open_remote_backends(
    address: Address | str,
    token: bytes | None = None,
    *,
    limits: ConnectionLimits | None = None,
    live_output: bool = True,
) -> Iterator[tuple[RemoteVfs, RemoteTerminal]]:
    """Connect to a guest from synchronous code; yield ``(vfs, terminal)`` for an ``Engine``.

    The handshake, the token's proof and one round trip are checked (within
    ``HANDSHAKE_SECONDS``) before anything runs; the connection is closed on exit. With
    ``live_output`` (the default) the guest streams a command's output while it runs, for the
    terminal's ``on_output``; False asks for none (then ``on_output`` is never called).

    Raises:
        RemoteConnectionError: cannot connect, or the guest refused (said plainly).
        AddressError: ``address`` is not valid.
    """
    target = parse_address(address) if isinstance(address, str) else address
    try:
        sock = connect_socket(target)
    except OSError as error:
        raise unreachable(target, error) from error
    channel = client_channel(token, limits, live_output=live_output)
    link = BlockingLink(sock, channel)
    try:
        link.set_timeout(ANSWER_SECONDS)  # a peer that never answers is an error, not a hang
        link.run_steps(until(channel.handshake_complete))
        link.set_timeout(HANDSHAKE_SECONDS)
        workspace = link.run_steps(call(channel, wire.cwd()))
        link.set_timeout(None)
    except (RemoteConnectionError, RemoteOperationError, TimeoutError) as error:
        failure = setup_failure(target, channel, None if isinstance(error, TimeoutError) else error)
        link.close()
        raise failure from error
    connection = _Connection(link, target, workspace)
    try:
        yield RemoteVfs(connection), RemoteTerminal(connection)
    finally:
        link.close()
