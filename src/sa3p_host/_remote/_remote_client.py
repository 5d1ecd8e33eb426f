"""``RemoteClient``: an async (anyio) connection to a guest — ``connect(address, token=...)``.

It is the engine's ``AsyncVirtualFileSystem`` and ``AsyncTerminalProvider`` at once (so
``AsyncEngine(client, client)`` runs a model's commands on the guest), plus streamed processes
(``spawn``/``attach``: PTY or pipes, input, resize, signals, replay after a reconnect). The
routines it runs are the ones ``RemoteVfs``/``RemoteTerminal`` run from blocking code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio

from sa3p_engine import (
    FileHash,
    FileStat,
    OutputCallback,
    RunResult,
    SignalResult,
    TreeNode,
    WriteReceipt,
)
from sa3p_host import _wire_values as wire
from sa3p_host._links import AsyncLink
from sa3p_host._remote._client_setup import (
    ANSWER_SECONDS,
    HANDSHAKE_SECONDS,
    client_channel,
    setup_failure,
    unreachable,
    unsupported,
)
from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
from sa3p_host._stream_routines import (
    ProcessEvent,
    ProcessStream,
    Steps,
    WriteStream,
    call,
    until,
)
from sa3p_host._transport import Address, connect_address, parse_address
from sa3p_protocol import ConnectionLimits, Feature
from sa3p_protocol.messages import AttachRequest, PtyExit, PtyOutput, SpawnRequest

__all__ = ["RemoteClient", "RemoteProcess", "RemoteWriteStream", "connect"]

T = TypeVar("T")


class RemoteClient:
    """An open, authenticated connection to a guest. Create it with ``connect``.

    Methods raise ``RemoteOperationError`` when the guest refuses an operation and
    ``RemoteConnectionError`` when the connection is gone. ``close`` ends the processes this
    client started (the terminal's ``close``); ``aclose`` closes the connection.

    Attributes:
        address: the guest's address.
        workspace: the guest's workspace (its cwd), checked at connect.
    """

    def __init__(self, link: AsyncLink, address: Address, workspace: str = "") -> None:
        self._link = link
        self.address = address
        self.workspace = workspace

    @property
    def connection_error(self) -> RemoteConnectionError | None:
        """Why the connection ended, once it has."""
        return self._link.channel.closed

    async def call(
        self, exchange: wire.Exchange[T], *, on_output: OutputCallback | None = None
    ) -> T:
        """Run one operation (see ``_wire_values``)."""
        return await self._link.run_steps(call(self._link.channel, exchange, on_output=on_output))

    # ---- filesystem -------------------------------------------------------------------------

    async def cwd(self) -> str:
        return self.workspace

    async def stat(self, path: str) -> FileStat:
        return await self.call(wire.stat(path))

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        return await self.call(wire.read(path, offset, length))

    async def hash(self, path: str) -> str:
        return await self.call(wire.hash_file(path))

    async def list_tree(self, path: str = "") -> list[TreeNode]:
        return await self.call(wire.list_tree(path))

    async def recent_file_hashes(self, limit: int) -> list[FileHash]:
        return await self.call(wire.recent_file_hashes(limit))

    async def recently_modified(self, paths: Sequence[str]) -> list[str]:
        """As ``VirtualFileSystem.recently_modified`` (an older guest: ``RemoteOperationError``
        UNSUPPORTED_OPERATION)."""
        channel = self._link.channel
        if Feature.RECENTLY_MODIFIED not in channel.connection.features:
            raise unsupported("VFS_RECENTLY_MODIFIED")
        recent: list[str] = []
        for batch in wire.path_batches(paths, channel.connection.max_send_payload):
            found: list[str] = await self.call(wire.recently_modified(batch))
            recent += found
        return recent

    async def remove(self, path: str) -> None:
        await self.call(wire.remove(path))

    async def open_writer(self, path: str) -> RemoteWriteStream:
        """Start an atomic streaming write of ``path`` on the guest."""
        stream = WriteStream(self._link.channel, path)
        await self._link.run_steps(stream.open())
        return RemoteWriteStream(self._link, stream)

    # ---- terminal ---------------------------------------------------------------------------

    async def run(
        self, command: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        """As ``TerminalProvider.run``; ``on_output`` (called in the loop's thread) gets output
        only on a connection made with ``live_output``."""
        return await self.call(wire.run(command, timeout), on_output=on_output)

    async def poll(
        self, pid: int, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        return await self.call(wire.poll(pid, timeout), on_output=on_output)

    async def signal(self, pid: int, signal: int) -> SignalResult:
        return await self.call(wire.signal(pid, signal))

    async def active_pids(self) -> list[int]:
        return await self.call(wire.active_pids())

    async def close(self) -> None:
        """End every process this client started with ``run`` (the terminal's ``close``)."""
        await self.call(wire.close_terminal())

    # ---- streamed processes -----------------------------------------------------------------

    async def spawn(self, request: SpawnRequest) -> RemoteProcess:
        """Start a process on the guest (PTY or pipes) and stream it; see ``RemoteProcess``."""
        return await self._start_process(request)

    async def attach(self, pid: int, from_offset: int = 0) -> RemoteProcess:
        """Reattach to a process (after a reconnect), replaying its output from byte
        ``from_offset`` as far as the guest's replay buffer still holds it."""
        return await self._start_process(AttachRequest(pid, from_offset))

    async def _start_process(self, request: SpawnRequest | AttachRequest) -> RemoteProcess:
        stream = ProcessStream(self._link.channel)
        await self._link.run_steps(stream.start(request))
        return RemoteProcess(self._link, stream)

    async def aclose(self) -> None:
        """Close the connection (processes started with ``spawn`` live on for the guest's grace
        period; ``attach`` from a new connection picks them up)."""
        await self._link.aclose()


class RemoteWriteStream:
    """An atomic write on the guest (see ``_stream_routines.WriteStream``)."""

    def __init__(self, link: AsyncLink, stream: WriteStream) -> None:
        self._link = link
        self._stream = stream
        self.path = stream.path

    async def write(self, data: bytes) -> None:
        await self._link.run_steps(self._stream.write(data))

    async def commit(self) -> WriteReceipt:
        return await self._link.run_steps(self._stream.commit())

    async def abort(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5.0):
            await self._link.run_steps(self._stream.abort())

    @property
    def closed(self) -> bool:
        return self._stream.closed


class RemoteProcess:
    """A process started by ``RemoteClient.spawn`` or reattached by ``RemoteClient.attach``.

    Attributes:
        pid: the process id on the guest.
    """

    def __init__(self, link: AsyncLink, stream: ProcessStream) -> None:
        self._link = link
        self._stream = stream
        self.pid = stream.pid

    @property
    def next_offset(self) -> int:
        """The output offset after the last byte received (pass it to ``attach``)."""
        return self._stream.next_offset

    @property
    def exit(self) -> PtyExit | None:
        """The ``PtyExit`` once received."""
        return self._stream.exit

    async def receive(self) -> ProcessEvent | None:
        """The next output chunk, signal result or the exit; None once the stream ended."""
        return await self._run(self._stream.receive())

    async def read_until_exit(self) -> tuple[bytes, PtyExit | None]:
        """Every output byte until the process exits (for tests and small commands)."""
        parts: list[bytes] = []
        while (event := await self.receive()) is not None:
            if isinstance(event, PtyOutput):
                parts.append(event.data)
        return b"".join(parts), self.exit

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process's input (its terminal, or its stdin pipe)."""
        await self._run(self._stream.write(data))

    async def resize(self, rows: int, columns: int) -> None:
        await self._run(self._stream.resize(rows, columns))

    async def signal(self, signal: int) -> None:
        """Signal the process group; its ``SignalReply`` comes through ``receive``."""
        await self._run(self._stream.signal(signal))

    async def close_stdin(self) -> None:
        await self._run(self._stream.close_stdin())

    def detach(self) -> None:
        """Stop streaming; the process keeps running on the guest (see ``attach``)."""
        self._stream.detach()
        self._link.wake()

    async def _run(self, steps: Steps[T]) -> T:
        return await self._link.run_steps(steps)


@asynccontextmanager
async def connect(
    address: Address | str,
    *,
    token: bytes | None = None,
    limits: ConnectionLimits | None = None,
    live_output: bool = True,
) -> AsyncIterator[RemoteClient]:
    """Connect to a guest, complete the handshake, prove the token; yield the client.

    The connection is checked with one round trip before it is yielded, so a refused token or a
    guest going away is reported here, before anything runs. ``live_output``: as for
    ``open_remote_backends``.

    Raises:
        RemoteConnectionError: cannot connect, or the guest refused (said plainly).
        AddressError: ``address`` is not a valid address text.
    """
    target = parse_address(address) if isinstance(address, str) else address
    try:
        stream = await connect_address(target)
    except OSError as error:
        raise unreachable(target, error) from error
    channel = client_channel(token, limits, live_output=live_output)
    link = AsyncLink(stream, channel)
    failure: BaseException | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(link.run)
        try:
            with anyio.fail_after(ANSWER_SECONDS):
                await link.run_steps(until(channel.handshake_complete))
            with anyio.fail_after(HANDSHAKE_SECONDS):
                workspace = await link.run_steps(call(channel, wire.cwd()))
        except (RemoteConnectionError, RemoteOperationError) as error:
            failure = setup_failure(target, channel, error)
        except TimeoutError:
            failure = setup_failure(target, channel, None)
        if failure is None:
            try:
                yield RemoteClient(link, target, workspace)
            except BaseException as error:  # re-raised below, outside the task group, as is
                failure = error
            else:
                await link.shut_down()
        await link.aclose()
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
