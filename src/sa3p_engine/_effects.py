"""What the engine core asks of the world: one frozen value per backend call.

The core never calls a backend. A command is a generator (a ``Routine``) that yields an
``Effect`` and is sent the result, or has the backend's exception thrown in at the ``yield``.
A driver performs each effect with ``effect.call(vfs, terminal)``: the synchronous ``Engine``
calls it directly; ``AsyncEngine`` awaits what it returns for a native async backend, or runs
it in a worker thread for a synchronous one. So the same routine serves both worlds.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias, TypeVar

from sa3p_engine._backend import FileWriter

__all__ = [
    "ActivePids",
    "CloseTerminal",
    "Commit",
    "Cwd",
    "DiscardWrite",
    "Effect",
    "ListTree",
    "OpenWriter",
    "Poll",
    "Read",
    "RecentHashes",
    "Remove",
    "Routine",
    "Run",
    "SendSignal",
    "Stat",
    "WriteData",
    "discard_write",
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


@dataclass(frozen=True, slots=True)
class Run(Effect):
    on_terminal = True
    command: str
    timeout: float

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.run(self.command, timeout=self.timeout)


@dataclass(frozen=True, slots=True)
class Poll(Effect):
    on_terminal = True
    pid: int
    timeout: float

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.poll(self.pid, timeout=self.timeout)


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
class CloseTerminal(Effect):
    on_terminal = True

    def call(self, vfs: Any, terminal: Any) -> Any:
        return terminal.close()
