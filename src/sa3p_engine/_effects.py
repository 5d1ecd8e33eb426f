"""What the engine core asks of the world: one frozen value per backend call.

The core never calls a backend. A command is a generator (a ``Routine``) that yields an
``Effect`` and is sent the result, or has the backend's exception thrown in at the ``yield``.
A driver performs each effect with ``effect.call(vfs, terminal)``: the synchronous ``Engine``
calls it directly; ``AsyncEngine`` awaits what it returns for a native async backend, or runs
it in a worker thread for a synchronous one. So the same routine serves both worlds.
``Approve`` is the one effect no backend serves: the driver answers it with its approver.
``Run`` and ``Poll`` are ``LiveEffect``s: a driver given an output callback performs them with
``call_live`` instead, so a command's output reaches people while it runs; the routine, and so
the core, never sees that callback.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar

from sa3p_engine._approval_request import ApprovalRequest
from sa3p_engine._backend import FileWriter, OutputCallback, WriteReceipt

if TYPE_CHECKING:
    from sa3p_engine._outputs import CommandOutput

__all__ = [
    "ActivePids",
    "Approve",
    "CloseTerminal",
    "Commit",
    "Confirm",
    "Cwd",
    "DiscardWrite",
    "Effect",
    "ListTree",
    "LiveEffect",
    "OpenWriter",
    "Poll",
    "Read",
    "RecentHashes",
    "RecentlyModified",
    "Remove",
    "Routine",
    "Run",
    "SendSignal",
    "Stat",
    "WriteData",
    "discard_write",
    "go_ahead",
    "safely",
    "write_whole",
]

T = TypeVar("T")


class Effect:
    """One backend call, as a value. ``on_terminal`` says which backend serves it."""

    __slots__ = ()
    on_terminal: ClassVar[bool] = False

    def call(self, vfs: Any, terminal: Any) -> Any:
        """Perform the call (for an async backend: return its awaitable)."""
        raise NotImplementedError


Routine: TypeAlias = Generator[Effect, Any, T]
"""A piece of engine logic: yields effects, is sent their results, returns a ``T``."""

Confirm: TypeAlias = Callable[[str], "Routine[CommandOutput | None]"]
"""The last step before a command changes anything: given what would change (a diff, a file's
content), a routine returning None to go ahead, or the output to return instead (a refusal).
An editing command calls it once it knows its change; without a policy it is ``go_ahead``."""


def go_ahead(change: str) -> Routine[None]:
    """The ``Confirm`` of a command that needs no approval."""
    yield from ()
    return None  # a routine, though it yields nothing


@dataclass(frozen=True, slots=True)
class Cwd(Effect):
    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.cwd()


@dataclass(frozen=True, slots=True)
class Stat(Effect):
    path: str

    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.stat(self.path)


@dataclass(frozen=True, slots=True)
class Read(Effect):
    path: str
    offset: int
    length: int

    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.read(self.path, self.offset, self.length)


@dataclass(frozen=True, slots=True)
class ListTree(Effect):
    path: str

    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.list_tree(self.path)


@dataclass(frozen=True, slots=True)
class RecentHashes(Effect):
    limit: int

    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.recent_file_hashes(self.limit)


@dataclass(frozen=True, slots=True)
class RecentlyModified(Effect):
    """Which of ``paths`` were modified recently (``list_files`` asks about the files it
    shows)."""

    paths: tuple[str, ...]

    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.recently_modified(self.paths)


@dataclass(frozen=True, slots=True)
class OpenWriter(Effect):
    path: str

    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.open_writer(self.path)


@dataclass(frozen=True, slots=True)
class WriteData(Effect):
    writer: FileWriter
    data: bytes

    def call(self, vfs: Any, terminal: Any) -> Any:
        return self.writer.write(self.data)


@dataclass(frozen=True, slots=True)
class Commit(Effect):
    writer: FileWriter

    def call(self, vfs: Any, terminal: Any) -> Any:
        return self.writer.commit()


@dataclass(frozen=True, slots=True)
class Remove(Effect):
    """Delete a regular file (``apply_patch``'s *** Delete File and *** Move to)."""

    path: str

    def call(self, vfs: Any, terminal: Any) -> Any:
        return vfs.remove(self.path)


@dataclass(frozen=True, slots=True)
class DiscardWrite(Effect):
    writer: FileWriter

    def call(self, vfs: Any, terminal: Any) -> Any:
        return self.writer.abort()


def discard_write(writer: FileWriter) -> Routine[None]:
    """Abort ``writer``, best effort: the failure that led here is what gets reported."""
    try:
        yield DiscardWrite(writer)
    except Exception:
        return


def write_whole(path: str, data: bytes) -> Routine[WriteReceipt]:
    """Write ``data`` to ``path`` through one atomic writer (backend errors propagate)."""
    writer: FileWriter = yield OpenWriter(path)
    try:
        yield WriteData(writer, data)
        receipt: WriteReceipt = yield Commit(writer)
    except Exception:
        yield from discard_write(writer)
        raise
    return receipt


def safely(effect: Effect, default: T) -> Routine[T]:
    """The effect's result, or ``default`` when the backend fails."""
    try:
        return (yield effect)  # type: ignore[no-any-return]
    except Exception:
        return default


@dataclass(frozen=True, slots=True)
class Run(Effect):
    on_terminal = True
    command: str
    timeout: float

    @property
    def subject(self) -> str:
        """What its live output is the output of."""
        return self.command

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.run(self.command, timeout=self.timeout)

    def call_live(self, vfs: Any, terminal: Any, on_output: OutputCallback) -> Any:
        """``call``, with the output passed to ``on_output`` as it arrives."""
        return terminal.run(self.command, timeout=self.timeout, on_output=on_output)


@dataclass(frozen=True, slots=True)
class Poll(Effect):
    on_terminal = True
    pid: int
    timeout: float

    @property
    def subject(self) -> str:
        return f"pid {self.pid}"

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.poll(self.pid, timeout=self.timeout)

    def call_live(self, vfs: Any, terminal: Any, on_output: OutputCallback) -> Any:
        return terminal.poll(self.pid, timeout=self.timeout, on_output=on_output)


LiveEffect = Run | Poll
"""The effects whose output can be watched while they run."""


@dataclass(frozen=True, slots=True)
class SendSignal(Effect):
    on_terminal = True
    pid: int
    signal: int

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.signal(self.pid, self.signal)


@dataclass(frozen=True, slots=True)
class ActivePids(Effect):
    on_terminal = True

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.active_pids()


@dataclass(frozen=True, slots=True)
class Approve(Effect):
    """Ask whoever approves commands; the result is the approver's answer (``answer_of``).

    Performed by the driver, not by a backend: ``call`` is never used.
    """

    request: ApprovalRequest

    def call(self, vfs: Any, terminal: Any) -> Any:
        raise TypeError("Approve is performed by the engine's driver, not by a backend")


@dataclass(frozen=True, slots=True)
class CloseTerminal(Effect):
    on_terminal = True

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.close()
