"""The two small interfaces the engine works through, and the values they exchange.

Local backends (``sa3p_host.LocalVfs``/``LocalTerminal``) and remote ones (over the binary
protocol) implement them. Each method is one request/response, so each maps onto one protocol
operation; the one callback, a terminal's optional ``on_output`` (live output for people while a
command runs), maps onto messages streamed before the response.

Backends report failures by raising ``FileSystemError`` or ``TerminalError`` with a stable
``ErrorCode``; the engine turns them into failed command outputs. Any other exception is a bug.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeAlias, runtime_checkable


class ErrorCode(enum.Enum):
    """Why a backend operation failed. Stable names: the protocol carries them on the wire."""

    NOT_FOUND = "not_found"
    OUTSIDE_WORKSPACE = "outside_workspace"
    INVALID_PATH = "invalid_path"
    IS_A_DIRECTORY = "is_a_directory"
    NOT_A_DIRECTORY = "not_a_directory"
    PERMISSION_DENIED = "permission_denied"
    TOO_LARGE = "too_large"
    WRITER_CLOSED = "writer_closed"
    UNKNOWN_PROCESS = "unknown_process"
    INVALID_SIGNAL = "invalid_signal"
    SPAWN_FAILED = "spawn_failed"
    CLOSED = "closed"
    CONNECTION_LOST = "connection_lost"
    IO_ERROR = "io_error"
    WRITE_MISMATCH = "write_mismatch"
    """A commit refused: the content's size or SHA-256 is not what the writer expected."""


class BackendError(Exception):
    """A backend operation failed for a reason the model should hear about.

    Attributes:
        code: the stable reason.
        message: a sentence for the model, naming what was wrong.
        path: the workspace path concerned, if any.
    """

    def __init__(self, code: ErrorCode, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


class FileSystemError(BackendError):
    """A ``VirtualFileSystem`` operation failed."""


class TerminalError(BackendError):
    """A ``TerminalProvider`` operation failed."""


class NodeKind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"


class TreeNode(NamedTuple):
    """One node of a listing (immutable).

    A ``NamedTuple`` rather than a frozen dataclass on purpose: a listing builds one per file
    (10,000 in a big tree), and a tuple is built in a third of the time (~0.35 us against
    ~1.1 us), which was a third of a listing's cost. Build it with keywords, or positionally
    in this order.

    Attributes:
        path: relative to the workspace root, ``/``-separated, never empty.
        kind: file or directory.
        descendant_file_count: for a directory, the number of non-ignored files anywhere below
            it; for a file, 0.
        modified_recently: kept for backends that know it for free (and older guests, which
            send it); sa3p's own backends leave it False: knowing it costs a ``stat`` of every
            file, so ``list_files`` asks ``recently_modified`` about the files it shows.
    """

    path: str
    kind: NodeKind
    descendant_file_count: int = 0
    modified_recently: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FileStat:
    """What ``stat`` knows about a path. ``mtime`` is seconds since the epoch."""

    path: str
    kind: NodeKind
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class FileHash:
    """A file and the SHA-256 (lowercase hex) of its content."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteReceipt:
    """The result of a committed write."""

    path: str
    bytes_written: int
    sha256: str
    created: bool


class FileWriter(Protocol):
    """A streaming, atomic write. Nothing is visible at ``path`` until ``commit``.

    After ``commit`` or ``abort`` the writer is closed; ``write``/``commit`` then raise
    ``FileSystemError(WRITER_CLOSED)`` and ``abort`` does nothing.
    """

    def write(self, data: bytes) -> None: ...

    def commit(self) -> WriteReceipt: ...

    def abort(self) -> None: ...


@runtime_checkable
class VirtualFileSystem(Protocol):
    """A workspace's files. Paths are relative to the root (or absolute inside it).

    Every method raises ``FileSystemError`` for a path it cannot serve; confinement to the
    workspace is the implementation's duty.
    """

    def cwd(self) -> str:
        """The workspace root as the model should see it."""
        ...

    def stat(self, path: str) -> FileStat: ...

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Up to ``length`` bytes from ``offset`` (all remaining bytes when ``length`` is None)."""
        ...

    def open_writer(self, path: str) -> FileWriter:
        """Start an atomic write; parent directories are created at commit."""
        ...

    def hash(self, path: str) -> str:
        """SHA-256 of the file's content, lowercase hex."""
        ...

    def remove(self, path: str) -> None:
        """Delete the regular file at ``path`` (confined like every path).

        Raises ``FileSystemError``: ``NOT_FOUND`` when nothing is there, ``IS_A_DIRECTORY``
        for a directory (directories are never removed; a parent left empty may stay),
        ``OUTSIDE_WORKSPACE``/``INVALID_PATH`` for a path outside the workspace. A symbolic link
        is removed itself, never its target. A write already open on the path is unaffected.
        """
        ...

    def list_tree(self, path: str) -> list[TreeNode]:
        """Every non-ignored node below ``path`` (not ``path`` itself), sorted by path."""
        ...

    def recent_file_hashes(self, limit: int) -> list[FileHash]:
        """Up to ``limit`` files this filesystem wrote or read most recently, newest first,
        with their current hashes; files that no longer exist are left out."""
        ...

    def recently_modified(self, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` (files, as ``list_tree`` names them) modified within the
        backend's recent window (24 h by default), in the order given; a path that is not there
        (or cannot be looked at) is left out. One ``stat`` per path: ask only about what is
        shown."""
        ...


OutputCallback: TypeAlias = Callable[[bytes], None]
"""Called with each piece of a running command's output as it arrives (stdout and stderr
merged, raw: escape sequences included), for people watching; the result still carries the
capped output. Chunk boundaries carry no meaning. It runs in the thread (or task) that waits
for the command, must not block for long and must not call the terminal; an exception it
raises stops the live output of that run, never the run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What a command (or a poll of a detached one) produced.

    Output is stdout and stderr merged in order, capped: ``head`` is the first bytes, ``tail``
    the last ones, and ``total_bytes`` how many there were in all (``omitted_bytes`` between).

    Attributes:
        pid: the process (group leader) id.
        exit_code: the exit status; negative for death by signal (as ``subprocess``); None while
            still running (the command outlived its timeout and was detached). A shell that
            exited after backgrounding a job (``server &``) has an exit code, yet its pid stays
            in ``active_pids`` while anything in its process group lives.
        duration: seconds from start to exit, or to the end of the wait.
    """

    pid: int
    head: bytes
    tail: bytes = b""
    total_bytes: int = 0
    exit_code: int | None = None
    duration: float = 0.0

    def __post_init__(self) -> None:
        if self.total_bytes < len(self.head) + len(self.tail):
            object.__setattr__(self, "total_bytes", len(self.head) + len(self.tail))

    @property
    def running(self) -> bool:
        return self.exit_code is None

    @property
    def omitted_bytes(self) -> int:
        return self.total_bytes - len(self.head) - len(self.tail)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalResult:
    """The result of signalling a process group. ``exited`` within the provider's grace wait."""

    pid: int
    signal: int
    exited: bool
    exit_code: int | None = None


@runtime_checkable
class TerminalProvider(Protocol):
    """Runs shell commands in the workspace. Raises ``TerminalError`` for what it cannot do.

    Live output: a terminal may also take ``on_output`` (an ``OutputCallback``) as a keyword of
    ``run`` and ``poll`` and pass it the output as it arrives, before the result. sa3p's
    terminals all do. The engine passes it only when its own caller asked for live output
    (``Engine(on_output=...)``), so a terminal without it keeps working as before.
    """

    def run(self, command: str, *, timeout: float) -> RunResult:
        """Run ``command``; after ``timeout`` seconds return what it printed so far, leaving it
        running (detached, listed by ``active_pids``)."""
        ...

    def poll(self, pid: int, *, timeout: float) -> RunResult:
        """Output a detached process printed since it was last read, waiting up to ``timeout``
        seconds for it to exit."""
        ...

    def signal(self, pid: int, signal: int) -> SignalResult:
        """Send ``signal`` to the process group of a process this terminal started."""
        ...

    def active_pids(self) -> list[int]:
        """Commands this terminal started whose process group still has a live member, ascending
        (a detached command, or one whose shell exited leaving a background job)."""
        ...

    def close(self) -> None:
        """End every process this terminal started, and their descendants."""
        ...


class AsyncFileWriter(Protocol):
    """``FileWriter``, awaited (what an ``AsyncVirtualFileSystem.open_writer`` returns)."""

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> WriteReceipt: ...

    async def abort(self) -> None: ...


@runtime_checkable
class AsyncVirtualFileSystem(Protocol):
    """``VirtualFileSystem`` with every method a coroutine; same rules and errors."""

    async def cwd(self) -> str: ...

    async def stat(self, path: str) -> FileStat: ...

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes: ...

    async def open_writer(self, path: str) -> AsyncFileWriter: ...

    async def hash(self, path: str) -> str: ...

    async def remove(self, path: str) -> None: ...

    async def list_tree(self, path: str) -> list[TreeNode]: ...

    async def recent_file_hashes(self, limit: int) -> list[FileHash]: ...

    async def recently_modified(self, paths: Sequence[str]) -> list[str]: ...


@runtime_checkable
class AsyncTerminalProvider(Protocol):
    """``TerminalProvider`` with every method a coroutine; same rules and errors (an
    ``on_output`` it takes is a plain function, called in the event loop's thread)."""

    async def run(self, command: str, *, timeout: float) -> RunResult: ...

    async def poll(self, pid: int, *, timeout: float) -> RunResult: ...

    async def signal(self, pid: int, signal: int) -> SignalResult: ...

    async def active_pids(self) -> list[int]: ...

    async def close(self) -> None: ...
