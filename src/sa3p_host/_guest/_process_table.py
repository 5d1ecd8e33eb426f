"""The guest's streamed processes: PTY or pipes, a bounded replay log, attach, grace period.

Policy (issue 6, docs/PROTOCOL.md §"Processes"):

- Output is read into an ``OutputLog``: the last ``replay_bytes`` bytes, addressed by absolute
  byte offsets, so a client that reconnects replays from the offset it had reached.
- While a client is attached, the reader pauses once the slowest attached client lags
  ``replay_bytes // 2`` behind: the process blocks on a full pipe/terminal, the guest's memory
  does not grow (backpressure). With nobody attached the log keeps only its tail.
- A process with nobody attached (its client disconnected or detached) lives on for ``grace``
  seconds; then, still unclaimed, its process group is killed and it is forgotten. An exited
  process is kept just as long, so a late client can still read its last output and exit code.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal as signals
import struct
import subprocess
import termios
import time
from collections.abc import Mapping

import anyio
from anyio.abc import TaskGroup

from sa3p_engine import ErrorCode, TerminalError
from sa3p_protocol.messages import SpawnRequest

__all__ = ["ManagedProcess", "OutputLog", "ProcessTable"]

_READ_SIZE = 64 * 1024


class OutputLog:
    """The last ``capacity`` bytes of an output, by absolute offset. Never rescans or re-copies
    per append: dropped bytes are only cut off the front once they amount to ``capacity``.

    Attributes:
        start: offset of the oldest byte still held.
        end: offset after the newest byte (the total written so far).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._buffer = bytearray()
        self._dropped = 0  # bytes at the front of _buffer that are no longer held
        self.start = 0
        self.end = 0

    def append(self, data: bytes) -> None:
        self._buffer += data
        self.end += len(data)
        excess = self.end - self.start - self.capacity
        if excess > 0:
            self.start += excess
            self._dropped += excess
            if self._dropped >= self.capacity:
                del self._buffer[: self._dropped]
                self._dropped = 0

    def read(self, offset: int, limit: int) -> tuple[int, bytes]:
        """Up to ``limit`` bytes from ``offset`` (moved up to ``start`` if already dropped)."""
        offset = min(max(offset, self.start), self.end)
        index = self._dropped + offset - self.start
        return offset, bytes(self._buffer[index : index + limit])

    @property
    def held(self) -> int:
        return self.end - self.start


class ManagedProcess:
    """One process and its output log (mutable: it changes as the process runs)."""

    def __init__(
        self, process: subprocess.Popen[bytes], read_fd: int, write_fd: int | None, pty: bool
    ) -> None:
        self.process = process
        self.pid = process.pid
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.pty = pty
        self.log = OutputLog(1)
        self.started = time.monotonic()
        self.ended: float | None = None
        self.exit_code: int | None = None
        self.eof = False
        self.readers: dict[object, int] = {}
        self.generation = 0
        self._changed = anyio.Event()

    @property
    def finished(self) -> bool:
        """Exited, and all its output has been read."""
        return self.exit_code is not None and self.eof

    @property
    def duration(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def notify(self) -> None:
        event, self._changed = self._changed, anyio.Event()
        event.set()

    async def wait_change(self) -> None:
        await self._changed.wait()

    def lagging(self) -> bool:
        """Whether an attached reader is far enough behind that reading must pause."""
        if not self.readers:
            return False
        return self.log.end - min(self.readers.values()) >= self.log.capacity // 2

    async def write_input(self, data: bytes) -> None:
        """Write ``data`` to the process's input, waiting while its buffer is full.

        Raises:
            TerminalError: CLOSED once its input was closed.
        """
        view = memoryview(data)
        while view:
            if self.write_fd is None:
                raise TerminalError(ErrorCode.CLOSED, f"the input of process {self.pid} is closed")
            try:
                view = view[os.write(self.write_fd, view) :]
            except BlockingIOError:
                await anyio.wait_writable(self.write_fd)
            except OSError as error:
                raise TerminalError(
                    ErrorCode.IO_ERROR, f"cannot write to process {self.pid}: {error.strerror}"
                ) from error

    def close_input(self) -> None:
        """End of input: close the stdin pipe, or send EOT (^D) to a terminal."""
        if self.pty:
            if self.write_fd is not None:
                with contextlib.suppress(OSError):
                    os.write(self.write_fd, b"\x04")
            return
        if self.write_fd is not None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            self.write_fd = None

    def resize(self, rows: int, columns: int) -> None:
        if self.pty and self.write_fd is not None:
            with contextlib.suppress(OSError):
                _set_size(self.read_fd, rows, columns)

    def kill(self, signal: int = signals.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal)  # its own session: the group id is its pid


def _set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class ProcessTable:
    """Every streamed process of a guest (shared by its connections, so a client can reattach
    from a new connection).

    Args:
        workspace: the working directory (a relative ``cwd`` is taken below it).
        tasks: where reader, exit-watcher and grace-timer tasks run.
        replay_bytes: the per-process replay log (and, halved, the backpressure threshold).
        grace: seconds a process lives on with nobody attached.
        environment: the base environment of processes.
    """

    def __init__(
        self,
        workspace: str,
        tasks: TaskGroup,
        *,
        replay_bytes: int = 1024 * 1024,
        grace: float = 30.0,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._workspace = workspace
        self._tasks = tasks
        self._replay_bytes = replay_bytes
        self._grace = grace
        self._environment = dict(os.environ if environment is None else environment)
        self._processes: dict[int, ManagedProcess] = {}

    def spawn(self, request: SpawnRequest) -> ManagedProcess:
        """Start ``request``'s process and its reader.

        Raises:
            TerminalError: SPAWN_FAILED (with the OS reason), INVALID_PATH for a bad ``cwd``.
        """
        cwd = os.path.realpath(os.path.join(self._workspace, request.cwd))
        if os.path.commonpath([cwd, os.path.realpath(self._workspace)]) != os.path.realpath(
            self._workspace
        ):
            raise TerminalError(
                ErrorCode.OUTSIDE_WORKSPACE, f"cwd {request.cwd!r} is outside the workspace"
            )
        argv = list(request.argv) or ["/bin/sh", "-c", request.command]
        environment = {**self._environment, **dict(request.env)}
        try:
            managed = _start(argv, cwd, environment, request)
        except (OSError, ValueError, subprocess.SubprocessError) as error:
            raise TerminalError(
                ErrorCode.SPAWN_FAILED, f"cannot start {argv!r}: {error}"
            ) from error
        managed.log = OutputLog(self._replay_bytes)
        self._processes[managed.pid] = managed
        self._tasks.start_soon(self._read_output, managed)
        self._tasks.start_soon(self._watch_exit, managed)
        return managed

    def get(self, pid: int) -> ManagedProcess:
        """Raises: TerminalError(UNKNOWN_PROCESS) for a pid not (or no longer) held."""
        managed = self._processes.get(pid)
        if managed is None:
            raise TerminalError(
                ErrorCode.UNKNOWN_PROCESS, f"process {pid} is not held by this guest"
            )
        return managed

    def attach(self, managed: ManagedProcess, key: object, from_offset: int) -> None:
        managed.readers[key] = max(from_offset, managed.log.start)
        managed.generation += 1

    def detach(self, managed: ManagedProcess, key: object) -> None:
        managed.readers.pop(key, None)
        managed.notify()
        if not managed.readers:
            managed.generation += 1
            self._tasks.start_soon(self._expire, managed, managed.generation)

    def close_all(self) -> None:
        """Kill every process (guest shutdown)."""
        for managed in self._processes.values():
            if managed.exit_code is None:
                managed.kill()

    @property
    def pids(self) -> list[int]:
        return sorted(self._processes)

    def held_bytes(self) -> int:
        """Output bytes held in every replay log."""
        return sum(managed.log.held for managed in self._processes.values())

    async def _expire(self, managed: ManagedProcess, generation: int) -> None:
        await anyio.sleep(self._grace)
        if managed.generation != generation or managed.readers:
            return  # somebody attached meanwhile
        if managed.exit_code is None:
            managed.kill()
        self._processes.pop(managed.pid, None)

    async def _read_output(self, managed: ManagedProcess) -> None:
        fd = managed.read_fd
        try:
            while True:
                while managed.lagging():
                    await managed.wait_change()
                try:
                    data = os.read(fd, _READ_SIZE)
                except BlockingIOError:
                    await anyio.wait_readable(fd)
                    continue
                except OSError:  # EIO: a terminal whose last user is gone
                    data = b""
                if not data:
                    break
                managed.log.append(data)
                managed.notify()
        finally:
            managed.eof = True
            managed.notify()
            _close_process_fds(managed)

    async def _watch_exit(self, managed: ManagedProcess) -> None:
        try:
            pidfd = os.pidfd_open(managed.pid)
        except (AttributeError, OSError):
            code = await anyio.to_thread.run_sync(managed.process.wait, abandon_on_cancel=True)
        else:
            try:
                await anyio.wait_readable(pidfd)
                code = managed.process.wait()
            finally:
                os.close(pidfd)
        managed.exit_code = code
        managed.ended = time.monotonic()
        managed.notify()
        if not managed.readers:
            managed.generation += 1
            self._tasks.start_soon(self._expire, managed, managed.generation)


def _start(
    argv: list[str], cwd: str, environment: dict[str, str], request: SpawnRequest
) -> ManagedProcess:
    if not request.use_pty:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        assert process.stdout is not None and process.stdin is not None
        read_fd, write_fd = process.stdout.fileno(), process.stdin.fileno()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        return ManagedProcess(process, read_fd, write_fd, pty=False)
    primary, secondary = os.openpty()
    try:
        _set_size(secondary, request.rows, request.columns)
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=environment,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            start_new_session=True,
            close_fds=True,
        )
    except BaseException:
        os.close(primary)
        raise
    finally:
        os.close(secondary)
    os.set_blocking(primary, False)
    return ManagedProcess(process, primary, primary, pty=True)


def _close_process_fds(managed: ManagedProcess) -> None:
    if managed.pty:
        managed.write_fd = None
        with contextlib.suppress(OSError):
            os.close(managed.read_fd)
        return
    for pipe in (managed.process.stdout, managed.process.stdin):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    managed.write_fd = None
