"""The guest (``sa3p serve``): a listener, one session per connection, a clean shutdown.

Each connection gets its own ``Connection`` (server role, the guest's token), its own
``LocalVfs`` and ``LocalTerminal`` (so ``recent_file_hashes`` and ``close`` are per client, as
with a local pair), and shares the guest's streamed processes and worker-thread limiters. A
connection that breaks the protocol (bad magic, an oversized frame, a wrong token, a stream or
control flood) gets a GOAWAY saying why and is closed; nothing else is affected.

Shutdown (SIGTERM/SIGINT, or ``Guest.shutdown``): stop accepting, GOAWAY(SHUTTING_DOWN) to
every client, let open streams finish for ``drain`` seconds, then end every process (each
session's terminal, every streamed process) and close.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from anyio.abc import SocketStream, TaskGroup

from sa3p_host._channel import Channel
from sa3p_host._guest._guest_requests import Limiters, Operations
from sa3p_host._guest._process_table import ProcessTable
from sa3p_host._links import AsyncLink
from sa3p_host._local._local_terminal import LocalTerminal
from sa3p_host._local._local_vfs import LocalVfs
from sa3p_host._remote_errors import RemoteConnectionError
from sa3p_host._stream_routines import until
from sa3p_host._transport import Address, UnixAddress, listen_address, tune_stream
from sa3p_protocol import Connection, ConnectionLimits, Message, Role, WireErrorCode

__all__ = ["GUEST_LIMITS", "Guest", "GuestSettings"]

GUEST_LIMITS = ConnectionLimits(
    max_frame_payload=1024 * 1024,
    initial_stream_window=4 * 1024 * 1024,
    connection_window=8 * 1024 * 1024,
    max_open_streams=128,
)
"""What a guest accepts from each client: at most 8 MiB in flight per connection."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuestSettings:
    """How a guest serves.

    Attributes:
        workspace: the directory every client works in (confinement is LocalVfs's).
        token: the shared secret clients must prove, or None (loopback/Unix/vsock only).
        limits: what the guest accepts per connection.
        handshake_timeout: seconds a new connection has to complete HELLO/AUTH.
        drain: seconds open streams get to finish after GOAWAY at shutdown.
        grace: seconds a streamed process outlives its last client.
        replay_bytes: per-process replay buffer.
        shell: the shell of ``run`` commands.
    """

    workspace: str
    token: bytes | None = None
    limits: ConnectionLimits = GUEST_LIMITS
    handshake_timeout: float = 10.0
    drain: float = 5.0
    grace: float = 30.0
    replay_bytes: int = 1024 * 1024
    shell: str = "bash"


def _log_to_stderr(text: str) -> None:
    print(f"sa3p serve: {text}", file=sys.stderr, flush=True)


class Guest:
    """A running guest. ``await guest.serve(address)`` until ``shutdown()`` (or a signal, when
    ``handle_signals``).

    Args:
        settings: how to serve.
        log: where one-line notices go (connections refused, shutdown); stderr by default.
    """

    def __init__(
        self, settings: GuestSettings, *, log: Callable[[str], None] = _log_to_stderr
    ) -> None:
        self.settings = settings
        self._log = log
        self._sessions: set[AsyncLink] = set()
        self._stop = anyio.Event()
        self._ready = anyio.Event()
        self.address: Address | None = None
        self._processes: ProcessTable | None = None
        self.connections_served = 0
        self.connections_open = 0
        """Connections whose session has not fully ended (its handlers, e.g. a write's abort,
        included): for monitoring, and for tests that must wait for a disconnect's effects."""

    def held_output_bytes(self) -> int:
        """Bytes of process output the guest holds in its replay logs (for monitoring)."""
        return self._processes.held_bytes() if self._processes else 0

    def shutdown(self) -> None:
        """Begin the shutdown (from the guest's event loop)."""
        self._stop.set()

    async def wait_ready(self) -> None:
        """Return once the guest listens."""
        await self._ready.wait()

    async def serve(self, address: Address, *, handle_signals: bool = False) -> None:
        """Listen on ``address`` and serve until shut down.

        Raises:
            OSError: the address cannot be bound.
        """
        listener = await listen_address(address)
        self.address = address
        limiters = Limiters.create()
        try:
            async with anyio.create_task_group() as tasks:
                processes = ProcessTable(
                    self.settings.workspace,
                    tasks,
                    replay_bytes=self.settings.replay_bytes,
                    grace=self.settings.grace,
                )
                self._processes = processes
                if handle_signals:
                    tasks.start_soon(self._watch_signals)
                accepting = anyio.CancelScope()
                tasks.start_soon(self._accept, listener, tasks, processes, limiters, accepting)
                self._ready.set()
                await self._stop.wait()
                accepting.cancel()
                await self._drain()
                processes.close_all()
                tasks.cancel_scope.cancel()
        finally:
            with contextlib.suppress(OSError):
                await listener.aclose()
            if isinstance(address, UnixAddress):
                with contextlib.suppress(OSError):
                    os.unlink(address.path)

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
            async for number in received:
                self._log(f"{signal.Signals(number).name}: shutting down")
                self.shutdown()
                return

    async def _accept(
        self,
        listener: anyio.abc.Listener[SocketStream],
        tasks: TaskGroup,
        processes: ProcessTable,
        limiters: Limiters,
        scope: anyio.CancelScope,
    ) -> None:
        async def handle(stream: SocketStream) -> None:
            self.connections_open += 1
            try:
                await self._session(stream, processes, limiters)
            except Exception as error:  # a bug must end this connection only, never the guest
                self._log(f"a connection failed: {error!r}")
                await stream.aclose()
            finally:
                self.connections_open -= 1

        with scope:
            await listener.serve(handle, task_group=tasks)

    async def _drain(self) -> None:
        for link in list(self._sessions):
            link.channel.connection.close(WireErrorCode.SHUTTING_DOWN, "the guest is shutting down")
            link.wake()
        with anyio.move_on_after(self.settings.drain):
            while any(link.channel.open_streams for link in self._sessions):
                await anyio.sleep(0.05)
        for link in list(self._sessions):
            await link.aclose()

    async def _session(
        self, stream: SocketStream, processes: ProcessTable, limiters: Limiters
    ) -> None:
        tune_stream(stream)
        connection = Connection(Role.SERVER, token=self.settings.token, limits=self.settings.limits)
        workspace = self.settings.workspace
        terminal = LocalTerminal(workspace, shell=self.settings.shell)
        operations: Operations | None = None
        async with anyio.create_task_group() as handlers:

            def on_request(stream_id: int, message: Message) -> None:
                assert operations is not None
                if not operations.serve_inline(stream_id, message):
                    handlers.start_soon(operations.serve, stream_id, message)

            link = AsyncLink(stream, Channel(connection, accept=on_request), answer_in_reader=True)
            operations = Operations(link, LocalVfs(workspace), terminal, processes, limiters)
            self._sessions.add(link)
            self.connections_served += 1
            try:
                handlers.start_soon(self._expect_handshake, link)
                await link.run()
            finally:
                self._sessions.discard(link)
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(terminal.close, limiter=limiters.terminal)
                handlers.cancel_scope.cancel()
        closed = link.channel.closed
        if closed is not None and closed.code is not WireErrorCode.CONNECTION_LOST:
            self._log(f"closed a connection: {closed.code.name}: {closed.message}")

    async def _expect_handshake(self, link: AsyncLink) -> None:
        with anyio.move_on_after(self.settings.handshake_timeout) as scope:
            with contextlib.suppress(RemoteConnectionError):  # reported when the session ends
                await link.run_steps(until(link.channel.handshake_complete))
        if scope.cancelled_caught:
            self._log("closed a connection that did not complete the handshake in time")
            await link.aclose()
