"""``LocalTerminal``: the engine's ``TerminalProvider`` over this machine's processes.

Each command is ``<shell> -c <command>`` run in the workspace root, in a session and process
group of its own, with stdin closed (``/dev/null``: a prompt reads EOF instead of hanging) and
stderr merged into stdout in order. Nothing but the filesystem persists between commands: a
``cd``, a variable or a shell function is gone at the next command.

Output is drained as it comes and capped (``CappedOutput``: head + tail + total); given
``on_output``, ``run`` and ``poll`` also pass each piece to it as it is read (live output for
people), from the thread that waits. A command that outlives its timeout is detached: a
background thread keeps draining it (still capped), it is listed by ``active_pids`` until it
exits, ``poll`` returns what it printed since the last read (and, with ``on_output``, relays
what the draining thread reads during the wait), and it is reaped when it exits. A command
whose shell exited while background jobs (``cmd &``) still hold its output open is treated
alike: its leftover output stays readable with ``poll``.

A command is *active* while its process group has a live member, not only while its shell
runs: ``sleep 100 & echo started`` returns at once with the shell's exit code (0), and its pid
stays in ``active_pids`` (so the model knows a server runs and can signal it) until the last
process of the group ends. The group is held by identity (``_process_groups``: a pidfd of its
leader, or the leader kept unreaped until the group is empty), so neither a probe nor a signal
ever reaches a process that got the number later; a group once found empty is ended for good.
``poll`` and ``signal`` wait for that same end: ``poll(timeout=…)`` returns when the whole group
ended or at the timeout, with the output printed since the last read; ``signal``'s ``exited``
means the group is empty. Processes that left the group (``setsid``) are not counted; ``close``
still ends them (``_process_cleanup``: environment and descriptor marks, descent, subreaper).
"""

from __future__ import annotations

import fcntl
import os
import queue
import secrets
import select
import signal as signals
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sa3p_engine import ErrorCode, OutputCallback, RunResult, SignalResult, TerminalError
from sa3p_host._live_output import LiveRelay, maybe_relay
from sa3p_host._local._capped_output import CappedOutput
from sa3p_host._local._process_cleanup import (
    MARKER_VARIABLE,
    Marks,
    become_subreaper,
    end_process_tree,
)
from sa3p_host._local._process_groups import ProcessGroup, open_process_group

__all__ = ["LocalTerminal"]

_READ_SIZE = 64 * 1024
_LINGER = 0.05  # seconds to wait for the pipe's EOF after the shell exited
_MAX_FINISHED = 1024
_GROUP_CHECK = 0.02  # seconds between probes of a group whose shell exited
_MARKER_AT = 512


@dataclass(eq=False, slots=True)
class _Job:
    """One started command (mutable: its state changes as the process runs)."""

    process: subprocess.Popen[bytes]
    group: ProcessGroup
    output: CappedOutput
    started: float
    stdout_fd: int | None
    exited: threading.Event = field(default_factory=threading.Event)
    drained: threading.Event = field(default_factory=threading.Event)
    ended: float | None = None
    exit_code: int | None = None
    group_ended: bool = False  # the shell exited and its process group was found empty
    listener: Callable[[bytes], None] | None = None
    """Where the draining thread also puts what it reads, while a ``poll`` relays it."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_active(self) -> bool:
        """Whether the shell or any process of its group still runs (see the module notes)."""
        if self.group_ended:
            return False
        if not self.exited.is_set() or self.group.alive():
            return True
        self.group.release()  # ended, and the exit is seen: nobody polls its descriptor
        self.group_ended = True
        return False

    def wait_for_end(self, deadline: float) -> bool:
        """Wait until the shell exited and its group is empty, or ``deadline`` (monotonic)."""
        if not self.exited.wait(max(0.0, deadline - time.monotonic())):
            return False
        while self.is_active():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_GROUP_CHECK, left))
        return True


class LocalTerminal:
    """Runs shell commands in ``root``, one process group each.

    Args:
        root: the working directory of every command.
        shell: the shell run as ``[shell, "-c", command]``.
        output_limit: bytes of output kept per result (half head, half tail).
        signal_grace: seconds ``signal`` waits for the group to exit (it returns as soon as
            the group is empty; the bound only matters for a process that outlives the signal).
        environment: the commands' environment (default: this process's, at construction).
        subreaper: on Linux, mark this process a child subreaper so orphaned descendants can be
            found and reaped by ``close`` (process-wide; see ``_process_cleanup``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        shell: str = "bash",
        output_limit: int = 256 * 1024,
        signal_grace: float = 3.0,
        environment: Mapping[str, str] | None = None,
        subreaper: bool = True,
    ) -> None:
        self._root = os.fspath(root)
        self._shell = shell
        self._output_limit = output_limit
        self._signal_grace = signal_grace
        self._environment = {**(os.environ if environment is None else environment)}
        self._marker_fd = _marker_descriptor()
        self._release_marker = weakref.finalize(self, os.close, self._marker_fd)
        self._marks = Marks(
            token=secrets.token_hex(16),
            descriptor=f"pipe:[{os.fstat(self._marker_fd).st_ino}]",
        )
        self._environment[MARKER_VARIABLE] = self._marks.token
        self._jobs: dict[int, _Job] = {}
        self._started_any = False
        self._lock = threading.Lock()
        self._closed = False
        if subreaper:
            become_subreaper()

    def run(
        self, command: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        """Run ``command``; return its result, or what it printed so far after ``timeout``.
        ``on_output`` gets each piece of output as it is read, in this thread.

        Raises:
            TerminalError: CLOSED after ``close``; SPAWN_FAILED when the shell cannot start.
        """
        job = self._spawn(command)
        finished = _pump(job, time.monotonic() + max(0.0, timeout), maybe_relay(on_output))
        if not (finished and job.drained.is_set()):
            self._drain_in_background(job)
        return self._result(job, wait_end=time.monotonic())

    def poll(
        self, pid: int, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        """What command ``pid`` printed since the last read, waiting up to ``timeout`` for it to
        end (its shell and every process of its group, as ``active_pids``). ``on_output`` gets
        what it prints during the wait, as it comes, in this thread.

        Raises:
            TerminalError: UNKNOWN_PROCESS for a pid this terminal did not start.
        """
        job = self._job(pid)
        deadline = time.monotonic() + max(0.0, timeout)
        if on_output is None:
            ended = job.wait_for_end(deadline)
        else:
            ended = _relay_until_end(job, deadline, LiveRelay(on_output))
        if ended:
            job.drained.wait(_LINGER)
        return self._result(job, wait_end=time.monotonic())

    def signal(self, pid: int, signal: int) -> SignalResult:
        """Send ``signal`` to the process group of ``pid``; wait briefly for the group to end.

        Nothing is sent to a command that already ended (its group id may have been reused).
        ``exited``: the shell exited and no process of its group is left.

        Raises:
            TerminalError: UNKNOWN_PROCESS for a pid this terminal did not start;
                INVALID_SIGNAL for a number that is not a signal here.
        """
        job = self._job(pid)
        if signal not in signals.valid_signals() and signal != 0:
            raise TerminalError(
                ErrorCode.INVALID_SIGNAL, f"{signal} is not a valid signal number on this system"
            )
        if job.is_active():
            job.group.send(signal)  # by identity: never to a later owner of the number
        if signal:
            exited = job.wait_for_end(time.monotonic() + self._signal_grace)
        else:
            exited = not job.is_active()
        return SignalResult(pid=pid, signal=signal, exited=exited, exit_code=job.exit_code)

    def active_pids(self) -> list[int]:
        """Commands this terminal started whose shell or process group still runs, ascending."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted(job.pid for job in jobs if job.is_active())

    def close(self) -> None:
        """Kill every process this terminal started and their descendants; reap them.

        Idempotent. Later ``run`` calls raise ``TerminalError(CLOSED)``.
        """
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            started_any = self._started_any
        for job in jobs:
            job.group.send(signals.SIGKILL)
        if started_any:  # descendants can only come from commands: none ran, nothing to find
            end_process_tree(self._marks, [job.group for job in jobs])
        for job in jobs:
            job.group.reap_leader(timeout=5.0)  # after their groups are gone
        for job in jobs:
            job.drained.wait(1.0)  # the drain threads see EOF once every writer is gone
            if job.exited.wait(1.0):
                job.group.release()
        self._release_marker()  # closes the marker descriptor (only the first time)

    def __enter__(self) -> LocalTerminal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _spawn(self, command: str) -> _Job:
        with self._lock:
            if self._closed:
                raise TerminalError(ErrorCode.CLOSED, "the terminal is closed")
        try:
            process = subprocess.Popen(
                [self._shell, "-c", command],
                cwd=self._root,
                env=self._environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                pass_fds=(self._marker_fd,),
            )
        except (OSError, ValueError) as exc:
            raise TerminalError(
                ErrorCode.SPAWN_FAILED, f"cannot start {self._shell!r} -c {command!r}: {exc}"
            ) from exc
        assert process.stdout is not None
        job = _Job(
            process=process,
            group=open_process_group(process),
            output=CappedOutput(self._output_limit),
            started=time.monotonic(),
            stdout_fd=process.stdout.fileno(),
        )
        with self._lock:
            self._jobs[process.pid] = job
            self._started_any = True
            self._forget_old_jobs()
        return job

    def _job(self, pid: int) -> _Job:
        with self._lock:
            job = self._jobs.get(pid)
        if job is None:
            raise TerminalError(
                ErrorCode.UNKNOWN_PROCESS, f"process {pid} was not started by this terminal"
            )
        return job

    def _forget_old_jobs(self) -> None:
        finished = [job for job in self._jobs.values() if job.drained.is_set()]
        if len(finished) <= _MAX_FINISHED:
            return
        ended = [job for job in finished if not job.is_active()]  # a live group is kept
        for job in ended[: max(0, len(ended) - _MAX_FINISHED)]:
            del self._jobs[job.pid]

    def _drain_in_background(self, job: _Job) -> None:
        thread = threading.Thread(
            target=_pump, args=(job, None), name=f"sa3p-drain-{job.pid}", daemon=True
        )
        thread.start()

    def _result(self, job: _Job, *, wait_end: float) -> RunResult:
        segment = job.output.take()
        exited = job.exited.is_set()
        return RunResult(
            pid=job.pid,
            head=segment.head,
            tail=segment.tail,
            total_bytes=segment.total_bytes,
            exit_code=job.exit_code if exited else None,
            duration=((job.ended if exited and job.ended else wait_end) - job.started),
        )


def _marker_descriptor() -> int:
    """The read end of a pipe nothing will ever be written to: every command inherits it, and
    holding it marks a process as this terminal's (``_process_cleanup``).

    It is moved to a high number (``_MARKER_AT`` or above) so that it sits apart from the
    descriptors ``subprocess`` keeps open in the child: CPython 3.11 closes the others with
    ``close_range`` between the kept ones, and two kept descriptors side by side make that fail
    over to closing them one by one (~60 us more per command).
    """
    read_end, write_end = os.pipe()
    os.close(write_end)
    try:
        high = fcntl.fcntl(read_end, fcntl.F_DUPFD_CLOEXEC, _MARKER_AT)
    except OSError:
        return read_end  # a low descriptor limit: it works all the same
    os.close(read_end)
    return high


def _relay_until_end(job: _Job, deadline: float, relay: LiveRelay) -> bool:
    """``job.wait_for_end(deadline)``, relaying what the draining thread reads meanwhile."""
    pieces: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    job.listener = pieces.put
    try:
        while job.is_active():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                relay(pieces.get(timeout=min(left, _GROUP_CHECK)))
            except queue.Empty:
                continue
        return True
    finally:
        job.listener = None
        while not pieces.empty():
            relay(pieces.get_nowait())


def _pump(job: _Job, deadline: float | None, relay: LiveRelay | None = None) -> bool:
    """Move output into ``job.output`` (and to ``relay``, or the job's listener) until the
    process exited and its pipe is drained, or the deadline passed (None: no deadline).
    Returns whether the process exited."""
    poller = select.poll()
    if job.stdout_fd is not None:
        poller.register(job.stdout_fd, select.POLLIN)
    if not job.exited.is_set():
        poller.register(job.group.exit_fd, select.POLLIN)
    linger_until: float | None = None
    while not (job.exited.is_set() and job.stdout_fd is None):
        now = time.monotonic()
        limit = _earliest(deadline, linger_until)
        if limit is not None and now >= limit:
            break
        wait_ms = None if limit is None else max(0, int((limit - now) * 1000) + 1)
        for fd, _ in poller.poll(wait_ms):
            if fd == job.stdout_fd:
                _read_some(job, poller, relay)
            elif fd == job.group.exit_fd:
                poller.unregister(fd)
                _mark_exited(job)
                linger_until = time.monotonic() + _LINGER if deadline is not None else None
    return job.exited.is_set()


def _read_some(job: _Job, poller: select.poll, relay: LiveRelay | None) -> None:
    assert job.stdout_fd is not None
    try:
        data = os.read(job.stdout_fd, _READ_SIZE)
    except OSError:
        data = b""
    if data:
        job.output.append(data)
        live = relay or job.listener
        if live is not None:
            live(data)
        return
    poller.unregister(job.stdout_fd)
    if job.process.stdout is not None:
        job.process.stdout.close()
    job.stdout_fd = None
    job.drained.set()


def _mark_exited(job: _Job) -> None:
    job.exit_code = job.group.leader_exited()
    job.ended = time.monotonic()
    job.exited.set()


def _earliest(*moments: float | None) -> float | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None
