"""Sessions: a workspace's guest, started on demand, kept between runs, sandboxed by default.

A session is a guest (``sa3p serve`` in session mode: one terminal for every connection, its
processes outliving them) serving one workspace on a Unix socket (mode 0600) in a per-user
runtime directory keyed by the workspace's real path — never inside the workspace:
``$XDG_RUNTIME_DIR/sa3p/sessions/<key>/`` or ``/tmp/sa3p-<uid>/sessions/<key>/`` (0700, ours,
or refused). ``open_session`` connects to it, starting it if none answers (a stale socket left
by a killed guest is replaced), and holds the workspace's run lock while open, so two runs on
one session never interleave: the second waits. With ``sandbox="bwrap"`` the guest runs under
bubblewrap (``_sandbox``), detached from the process that started it; its PID namespace ends
every process it started, whatever they did, when the guest ends: ``stop_session``, its idle
timeout (no connection for ``idle_timeout`` seconds), or its death.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # imported when first used: `sa3p run` starts a guest before loading them
    import psutil

    from sa3p_host._checkpoints import Checkpoints
    from sa3p_host._remote import RemoteTerminal, RemoteVfs

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "Session",
    "SessionError",
    "SessionInfo",
    "list_sessions",
    "open_session",
    "stop_session",
]

Sandbox = Literal["bwrap", "none"]

DEFAULT_IDLE_TIMEOUT = 3600.0
"""Seconds without a connection after which a session ends."""

_START_SECONDS = 20.0
_STOP_SECONDS = 10.0
_POLL = 0.01
_RECORD = "session.json"
_SOCKET = "guest.sock"


class SessionError(Exception):
    """A session could not be started, reached or stopped; the message says why and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """What is known of one session (``session.json`` in its directory).

    Attributes:
        workspace: the workspace's real path.
        pid: the session's main process (bwrap, or the guest itself without a sandbox).
        started: when it started (seconds since the epoch).
        sandbox: ``bwrap`` or ``none``.
        network: whether commands may reach the network.
        socket: the guest's Unix socket.
    """

    workspace: str
    pid: int
    started: float
    sandbox: str
    network: bool
    socket: str

    @property
    def alive(self) -> bool:
        return _answers(self.socket)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Launch:
    """How to start a session's guest."""

    workspace: str
    sandbox: Sandbox
    network: bool
    env: tuple[str, ...]
    idle_timeout: float


@dataclass(slots=True)
class Session:
    """An open session: backends for an ``Engine`` or ``AsyncEngine``, and how to end it.

    ``terminal.close()`` (what ``Engine.close`` calls) leaves the session's processes running:
    they belong to the session, and the next run sees them. ``stop()`` ends the session and
    every process in it.
    """

    info: SessionInfo
    vfs: RemoteVfs
    terminal: RemoteTerminal
    checkpoints: Checkpoints = field(init=False)
    """The workspace's checkpoints (``begin_turn``/``end_turn`` around each turn, ``undo``)."""

    def __post_init__(self) -> None:
        from sa3p_host._checkpoints import Checkpoints  # noqa: PLC0415 - see the imports

        self.checkpoints = Checkpoints(self.info.workspace)

    @property
    def address(self) -> str:
        """The guest's address, for ``sa3p_host.connect`` from async code."""
        return f"unix:{self.info.socket}"

    def stop(self) -> None:
        _stop(self.info)


def runtime_root() -> Path:
    """This user's private runtime directory for sessions (created 0700; refused unless it is
    a directory owned by this user that nobody else may write)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    root = Path(base, "sa3p") if base and os.path.isdir(base) else Path(f"/tmp/sa3p-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise SessionError(
            f"{root} is not a private directory of this user (a symlink, another owner, or "
            f"writable by others); remove it or set XDG_RUNTIME_DIR"
        )
    return root


def _session_dir(workspace: str) -> Path:
    key = hashlib.sha256(workspace.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    directory = runtime_root() / "sessions" / key
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def _real_workspace(workspace: str | os.PathLike[str]) -> str:
    real = os.path.realpath(workspace)
    if not os.path.isdir(real):
        raise SessionError(f"the workspace {os.fspath(workspace)!r} is not a directory")
    return real


@contextlib.contextmanager
def open_session(
    workspace: str | os.PathLike[str],
    *,
    sandbox: Sandbox = "bwrap",
    network: bool = False,
    env: tuple[str, ...] = (),
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ephemeral: bool = False,
    on_wait: Callable[[str], None] | None = None,
    while_starting: Callable[[], None] | None = None,
) -> Iterator[Session]:
    """Connect to ``workspace``'s session, starting it if none runs; hold its run lock.

    Args:
        workspace: the directory commands act on.
        sandbox: ``bwrap`` (default) or ``none`` (unconfined: commands run with your authority).
        network: let commands reach the network (sandboxed sessions only; ``none`` always can).
        env: names of variables of this environment the commands see (besides PATH, LANG,
            LC_*, TERM; HOME points into the sandbox).
        idle_timeout: seconds without a connection before the session ends.
        ephemeral: a private session for this call only, ended (with its processes) on exit.
        on_wait: told once, with a sentence, if another run holds the session and this waits.
        while_starting: called once the guest is started (or found running), before this
            waits for it to answer: work to overlap with its start (``sa3p run`` loads the
            engine meanwhile).

    Raises:
        SessionError: the workspace is not a directory, the guest did not start, or the
            runtime directory is not private.
        SandboxUnavailable: ``sandbox="bwrap"`` and the machine cannot make one (the message
            names both ways out; sa3p never silently runs unconfined).
    """
    real = _real_workspace(workspace)
    directory = _session_dir(real)
    if ephemeral:
        directory = Path(_private_dir(directory))
    with _run_lock(directory, on_wait):
        info = _live_session(directory)
        if info is None:
            launch = _Launch(
                workspace=real,
                sandbox=sandbox,
                network=network,
                env=env,
                idle_timeout=idle_timeout,
            )
            info = _start(launch, directory, lambda: _while_starting(while_starting))
        else:
            _while_starting(while_starting)
        from sa3p_host._remote import open_remote_backends  # noqa: PLC0415 - see the imports
        from sa3p_host._remote_errors import RemoteConnectionError  # noqa: PLC0415

        try:
            with open_remote_backends(f"unix:{info.socket}") as (vfs, terminal):
                yield Session(info=info, vfs=vfs, terminal=terminal)
        except RemoteConnectionError as error:
            raise SessionError(f"the session of {real} is unreachable: {error}") from error
        finally:
            if ephemeral:
                _stop(info)
                _remove_dir(directory)


def _while_starting(caller_s: Callable[[], None] | None) -> None:
    """What overlaps the guest's start: loading the remote client, then the caller's work."""
    import sa3p_host._remote  # noqa: F401, PLC0415 - see the imports

    if caller_s is not None:
        caller_s()


def _private_dir(directory: Path) -> str:
    import tempfile  # noqa: PLC0415 - only for ephemeral sessions

    return tempfile.mkdtemp(prefix="ephemeral-", dir=directory)


def _remove_dir(directory: Path) -> None:
    for name in (_SOCKET, _RECORD, "run.lock", "guest.log"):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


@contextlib.contextmanager
def _run_lock(directory: Path, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    fd = os.open(directory / "run.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait("another sa3p run is using this workspace's session; waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _live_session(directory: Path) -> SessionInfo | None:
    """The session recorded in ``directory`` if its guest answers; else clean up after it."""
    try:
        info = SessionInfo(**json.loads((directory / _RECORD).read_text()))
    except (OSError, ValueError, TypeError):
        info = None
    if info is not None and info.alive:
        return info
    if info is not None:
        _end_processes(info.pid)  # whatever is left of a guest that stopped answering
    for name in (_SOCKET, _RECORD):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    return None


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _start(launch: _Launch, directory: Path, while_starting: Callable[[], None]) -> SessionInfo:
    socket_path = str(directory / _SOCKET)
    workspace = launch.workspace
    guest = [
        sys.executable,
        "-m",
        "sa3p_host._guest",
        "--listen",
        f"unix:{socket_path}",
        "--workspace",
        workspace,
        "--keep-processes",
        "--idle-timeout",
        f"{launch.idle_timeout:g}",
    ]
    argv, environment = _confined(guest, launch, str(directory))
    with open(directory / "guest.log", "ab") as log:
        process = subprocess.Popen(
            argv,
            env=environment,
            cwd=workspace,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # not in our process group: a Ctrl-C here spares it
            close_fds=True,
        )
    info = SessionInfo(
        workspace=workspace,
        pid=process.pid,
        started=time.time(),
        sandbox=launch.sandbox,
        network=launch.network or launch.sandbox == "none",
        socket=socket_path,
    )
    while_starting()
    _wait_ready(info, process, directory)
    temporary = directory / f".{_RECORD}.{os.getpid()}"
    temporary.write_text(json.dumps(asdict(info)))
    temporary.replace(directory / _RECORD)
    return info


def _confined(
    guest: list[str], launch: _Launch, directory: str
) -> tuple[list[str], dict[str, str]]:
    """The guest's argv and environment: under bubblewrap, or as they are for ``none``."""
    if launch.sandbox == "none":
        return guest, dict(os.environ)
    from sa3p_host._sandbox import (  # noqa: PLC0415 - only for sandboxed sessions
        SandboxPolicy,
        check_sandbox,
        find_bwrap,
        sandboxed_command,
        sandboxed_environment,
    )

    bwrap = find_bwrap()
    check_sandbox(bwrap)
    policy = SandboxPolicy(
        workspace=launch.workspace,
        runtime_dir=directory,
        network=launch.network,
        env_names=launch.env,
        detached=True,
    )
    return sandboxed_command(policy, guest, bwrap=bwrap), sandboxed_environment(policy, os.environ)


def _wait_ready(info: SessionInfo, process: subprocess.Popen[bytes], directory: Path) -> None:
    """Until the guest accepts connections (not merely its socket file exists)."""
    deadline = time.monotonic() + _START_SECONDS
    while not _answers(info.socket):
        if process.poll() is not None:
            raise SessionError(
                f"the session's guest exited ({process.returncode}) before it was ready: "
                f"{_log_tail(directory)}"
            )
        if time.monotonic() > deadline:
            _end_processes(process.pid)
            raise SessionError(
                f"the session's guest was not ready in {_START_SECONDS:g} s: {_log_tail(directory)}"
            )
        time.sleep(_POLL)


def _log_tail(directory: Path) -> str:
    with contextlib.suppress(OSError):
        lines = (directory / "guest.log").read_text(errors="replace").strip().splitlines()
        if lines:
            return " / ".join(lines[-3:])
    return "(it said nothing)"


def stop_session(workspace: str | os.PathLike[str]) -> SessionInfo | None:
    """End ``workspace``'s session and every process in it; the session ended, or None if none
    was running."""
    directory = _session_dir(_real_workspace(workspace))
    info = _live_session(directory)
    if info is not None:
        _stop(info)
    for name in (_SOCKET, _RECORD):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    return info


def _stop(info: SessionInfo) -> None:
    """SIGTERM to the guest (it ends its commands and exits; in a sandbox its PID namespace
    takes the rest along), then SIGKILL to whatever is left after ``_STOP_SECONDS``."""
    import psutil  # noqa: PLC0415 - only to stop a session

    try:
        main = psutil.Process(info.pid)
        tree = [main, *main.children(recursive=True)]
    except psutil.Error:
        return
    guests = [proc for proc in tree if _is_guest(proc)] or [main]
    for proc in guests:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    alive = _wait_ended(tree)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_ended(alive)


def _wait_ended(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` still running after at most ``_STOP_SECONDS``. A zombie has ended: a
    session's processes are not our children, and whoever reaps them (init, a subreaper) may
    take its time (``psutil.wait_procs`` would wait for that)."""
    import psutil  # noqa: PLC0415

    def running(proc: psutil.Process) -> bool:
        try:
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + _STOP_SECONDS
    alive = [proc for proc in procs if running(proc)]
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL)
        alive = [proc for proc in alive if running(proc)]
    return alive


def _is_guest(proc: object) -> bool:
    import psutil  # noqa: PLC0415

    with contextlib.suppress(psutil.Error):
        return "sa3p_host._guest" in proc.cmdline()  # type: ignore[attr-defined]
    return False


def _end_processes(pid: int) -> None:
    """Kill a session's main process and everything below it (a guest that stopped answering)."""
    import psutil  # noqa: PLC0415

    with contextlib.suppress(psutil.Error):
        main = psutil.Process(pid)
        if "sa3p_host._guest" not in " ".join(main.cmdline()) and "bwrap" not in main.name():
            return  # the pid was reused by something else: not ours to kill
        tree = [main, *main.children(recursive=True)]
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _wait_ended(tree)


def list_sessions() -> list[SessionInfo]:
    """Every session of this user whose guest answers, by workspace."""
    sessions = runtime_root() / "sessions"
    found: list[SessionInfo] = []
    for record in sorted(sessions.glob(f"*/{_RECORD}")):
        with contextlib.suppress(OSError, ValueError, TypeError):
            info = SessionInfo(**json.loads(record.read_text()))
            if info.alive:
                found.append(info)
    return sorted(found, key=lambda info: info.workspace)
