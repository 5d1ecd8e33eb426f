"""The guest (``sa3p serve``): a listener, a served connection per client, a clean shutdown.

Each connection gets its own ``Connection`` (server role, the guest's token). Files and commands
go through the guest's one ``LocalVfs`` and one ``LocalTerminal`` when it serves a *session*
(``GuestSettings.keep_processes``: a process started by one client is polled and signalled by
the next, and outlives them all until the guest ends), or a fresh pair per connection otherwise
(a client's ``close`` then ends only its own commands). Streamed processes and worker-thread
limiters are the guest's. A connection that breaks the protocol (bad magic, an oversized frame,
a wrong token, a stream or control flood) gets a GOAWAY saying why and is closed; nothing else
is affected.

A guest survives its peers: connections are capped (``max_connections``, and
``max_pending`` not yet authenticated, the oldest of which makes room for a newcomer), a
connection must complete its handshake within ``handshake_timeout``, and a failing ``accept``
(no descriptors left) backs off instead of ending the guest. Per-connection backends are made
only once the peer authenticated.

Shutdown (SIGTERM/SIGINT, ``Guest.shutdown``, or ``idle_timeout`` seconds without a connection):
stop accepting, GOAWAY(SHUTTING_DOWN) to every client, let open streams finish for ``drain``
seconds, then end every process and close.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from anyio.abc import SocketListener, SocketStream, TaskGroup

from sa3p_host._channel import Channel
from sa3p_host._guest._guest_requests import Limiters, Operations
from sa3p_host._guest._process_table import ProcessTable
from sa3p_host._links import AsyncLink
from sa3p_host._local._local_terminal import LocalTerminal
from sa3p_host._local._local_vfs import LocalVfs
from sa3p_host._remote_errors import RemoteConnectionError
from sa3p_host._stream_routines import until
from sa3p_host._transport import Address, UnixAddress, listen_address, tune_stream
from sa3p_protocol import Connection, ConnectionLimits, Feature, Message, Role, WireErrorCode

__all__ = ["FEATURES", "GUEST_LIMITS", "Guest", "GuestSettings"]

GUEST_LIMITS = ConnectionLimits(
    max_frame_payload=1024 * 1024,
    initial_stream_window=4 * 1024 * 1024,
    connection_window=8 * 1024 * 1024,
    max_open_streams=128,
)
"""What a guest accepts from each client: at most 8 MiB in flight per connection."""

FEATURES = (Feature.LIVE_OUTPUT, Feature.RECENTLY_MODIFIED)
"""What the guest offers: streamed output of run/poll (to a client that asks for it) and
VFS_RECENTLY_MODIFIED."""
_ACCEPT_PAUSE = 0.05
_EVICT_AFTER = 1.0
_ACCEPT_PAUSE_MAX = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GuestSettings:
    """How a guest serves.

    Attributes:
        workspace: the directory every client works in (confinement is LocalVfs's).
        token: the shared secret clients must prove, or None (loopback/Unix/vsock only).
        limits: what the guest accepts per connection.
        keep_processes: serve a session: one terminal for every connection, whose processes
            outlive the connections (see the module notes).
        idle_timeout: seconds without any connection after which the guest ends; None: never.
        max_connections: connections served at once; more wait in the listener's backlog.
        max_pending: connections at once that have not completed the handshake.
        handshake_timeout: seconds a new connection has to complete HELLO/AUTH.
        drain: seconds open streams get to finish after GOAWAY at shutdown.
        grace: seconds a streamed process outlives its last client.
        replay_bytes: per-process replay buffer.
        shell: the shell of ``run`` commands.
    """

    workspace: str
    token: bytes | None = None
    limits: ConnectionLimits = GUEST_LIMITS
    keep_processes: bool = False
    idle_timeout: float | None = None
    max_connections: int = 256
    max_pending: int = 32
    handshake_timeout: float = 10.0
    drain: float = 5.0
    grace: float = 30.0
    replay_bytes: int = 1024 * 1024
    shell: str = "bash"


def _log_to_stderr(text: str) -> None:
    print(f"sa3p serve: {text}", file=sys.stderr, flush=True)


class Guest:
    """A running guest. ``await guest.serve(address)`` until ``shutdown()`` (or a signal, when
    ``handle_signals``; or the idle timeout).

    Args:
        settings: how to serve.
        log: where one-line notices go (ready, connections refused, shutdown); stderr by default.
    """

    def __init__(
        self, settings: GuestSettings, *, log: Callable[[str], None] = _log_to_stderr
    ) -> None:
        self.settings = settings
        self._log = log
        self._links: set[AsyncLink] = set()
        self._pending: dict[AsyncLink, float] = {}  # unauthenticated: since when, oldest first
        self._stop = anyio.Event()
        self._ready = anyio.Event()
        self._activity = anyio.Event()
        self.address: Address | None = None
        self._processes: ProcessTable | None = None
        self._shared: tuple[LocalVfs, LocalTerminal] | None = None
        self.connections_served = 0
        self.connections_open = 0
        """Connections whose serving has not fully ended (its handlers, e.g. a write's abort,
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
            OSError: the address cannot be bound (in use: a live guest answers there).
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
                if self.settings.idle_timeout is not None:
                    tasks.start_soon(self._watch_idle, self.settings.idle_timeout)
                accepting = anyio.CancelScope()
                tasks.start_soon(self._accept, listener, tasks, processes, limiters, accepting)
                self._ready.set()
                self._log(
                    f"ready: listening on {address}, workspace {self.settings.workspace}, "
                    f"pid {os.getpid()}"
                )
                await self._stop.wait()
                accepting.cancel()
                await self._drain()
                processes.close_all()
                if self._shared is not None:
                    await anyio.to_thread.run_sync(self._shared[1].close)
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

    async def _watch_idle(self, seconds: float) -> None:
        while True:
            changed = self._activity
            if self.connections_open:
                await changed.wait()
                continue
            with anyio.move_on_after(seconds):
                await changed.wait()
            if not changed.is_set():
                self._log(f"no connection for {seconds:g} s: shutting down")
                self.shutdown()
                return

    def _connections_changed(self, delta: int) -> None:
        self.connections_open += delta
        changed, self._activity = self._activity, anyio.Event()
        changed.set()

    async def _accept(
        self,
        listener: SocketListener,
        tasks: TaskGroup,
        processes: ProcessTable,
        limiters: Limiters,
        scope: anyio.CancelScope,
    ) -> None:
        capacity = anyio.Semaphore(self.settings.max_connections)
        pause = _ACCEPT_PAUSE
        with scope:
            while True:
                await capacity.acquire()
                await self._room_for_one_more()
                try:
                    stream = await listener.accept()
                except OSError as error:  # out of descriptors, buffers...: wait, never exit
                    capacity.release()
                    if pause == _ACCEPT_PAUSE:
                        self._log(f"cannot accept connections for now: {error}")
                    await anyio.sleep(pause)
                    pause = min(pause * 2, _ACCEPT_PAUSE_MAX)
                    continue
                pause = _ACCEPT_PAUSE
                tasks.start_soon(self._handle, stream, capacity, processes, limiters)

    async def _handle(
        self,
        stream: SocketStream,
        capacity: anyio.Semaphore,
        processes: ProcessTable,
        limiters: Limiters,
    ) -> None:
        self._connections_changed(+1)
        try:
            await self._serve_connection(stream, processes, limiters)
        except Exception as error:  # a bug must end this connection only, never the guest
            self._log(f"a connection failed: {error!r}")
            await stream.aclose()
        finally:
            capacity.release()
            self._connections_changed(-1)

    async def _drain(self) -> None:
        for link in list(self._links):
            link.channel.connection.close(WireErrorCode.SHUTTING_DOWN, "the guest is shutting down")
            link.wake()
        with anyio.move_on_after(self.settings.drain):
            while any(link.channel.open_streams for link in self._links):
                await anyio.sleep(0.05)
        for link in list(self._links):
            await link.aclose()

    def _backends(self) -> tuple[LocalVfs, LocalTerminal]:
        """The session's pair, or a fresh one for a connection of its own."""
        workspace, shell = self.settings.workspace, self.settings.shell
        if not self.settings.keep_processes:
            return LocalVfs(workspace), LocalTerminal(workspace, shell=shell)
        if self._shared is None:
            self._shared = LocalVfs(workspace), LocalTerminal(workspace, shell=shell)
        return self._shared

    async def _serve_connection(
        self, stream: SocketStream, processes: ProcessTable, limiters: Limiters
    ) -> None:
        tune_stream(stream)
        connection = Connection(
            Role.SERVER, token=self.settings.token, limits=self.settings.limits, features=FEATURES
        )
        operations: Operations | None = None
        async with anyio.create_task_group() as handlers:

            def on_request(stream_id: int, message: Message) -> None:
                nonlocal operations
                if operations is None:  # requests come only after the handshake
                    operations = Operations(
                        link,
                        *self._backends(),
                        processes,
                        limiters,
                        keeps_processes=self.settings.keep_processes,
                        live_output=Feature.LIVE_OUTPUT in connection.features,
                    )
                if not operations.serve_inline(stream_id, message):
                    handlers.start_soon(operations.serve, stream_id, message)

            link = AsyncLink(stream, Channel(connection, accept=on_request), answer_in_reader=True)
            self._links.add(link)
            self.connections_served += 1
            try:
                handlers.start_soon(self._expect_handshake, link)
                await link.run()
            finally:
                self._links.discard(link)
                self._pending.pop(link, None)
                if operations is not None and not self.settings.keep_processes:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(
                            operations.terminal.close, limiter=limiters.terminal
                        )
                handlers.cancel_scope.cancel()
        closed = link.channel.closed
        if closed is not None and closed.code is not WireErrorCode.CONNECTION_LOST:
            self._log(f"closed a connection: {closed.code.name}: {closed.message}")

    async def _room_for_one_more(self) -> None:
        """Wait until fewer than ``max_pending`` connections are unauthenticated. A connection
        pending longer than a legitimate handshake takes (``_EVICT_AFTER``) makes room for a
        newcomer, so idle peers cannot lock good clients out; a burst of fresh ones waits."""
        while len(self._pending) >= self.settings.max_pending:
            oldest, since = next(iter(self._pending.items()))
            age = anyio.current_time() - since
            if age >= _EVICT_AFTER:
                self._pending.pop(oldest)
                oldest.abort()
                continue
            changed = self._activity
            with anyio.move_on_after(_EVICT_AFTER - age):
                await changed.wait()

    async def _expect_handshake(self, link: AsyncLink) -> None:
        """Hold ``link`` as pending until it authenticates, within the handshake timeout."""
        self._pending[link] = anyio.current_time()
        with anyio.move_on_after(self.settings.handshake_timeout) as scope:
            with contextlib.suppress(RemoteConnectionError):  # reported when it ends
                await link.run_steps(until(link.channel.handshake_complete))
        if self._pending.pop(link, None) is not None:
            self._connections_changed(0)  # a pending slot is free
        if scope.cancelled_caught:
            self._log("closed a connection that did not complete the handshake in time")
            link.abort()
