"""Request payloads: each opens a stream (or continues a write or process stream)."""

from __future__ import annotations

from dataclasses import dataclass

from sa3p_protocol._frames import Opcode
from sa3p_protocol._schema import Field, Kind, Message

_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFF_FFFF


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} {value} outside 0..{maximum}")


def _check_digest(value: bytes) -> None:
    if len(value) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, not {len(value)}")


# ---- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadRequest(Message):
    """Read ``length`` bytes (None: to the end) from ``offset``; replies: READ_DATA*, END."""

    OPCODE = Opcode.VFS_READ
    FIELDS = (Field("path", Kind.STR), Field("offset", Kind.U64), Field("length", Kind.OPT_U64))
    path: str
    offset: int = 0
    length: int | None = None


@dataclass(frozen=True, slots=True)
class WriteChunkData(Message):
    """A piece of a streaming write's body (the original VFS_WRITE_CHUNK: the raw bytes)."""

    OPCODE = Opcode.VFS_WRITE_CHUNK
    FIELDS = (Field("data", Kind.REST),)
    data: bytes


@dataclass(frozen=True, slots=True)
class RenameRequest(Message):
    OPCODE = Opcode.VFS_RENAME
    FIELDS = (Field("source", Kind.STR), Field("destination", Kind.STR))
    source: str
    destination: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnRequest(Message):
    """Start a process: ``command`` through the shell, or ``argv`` directly (exactly one).

    ``cwd`` empty means the workspace root; ``env`` entries are added to the guest's
    environment; ``use_pty`` selects a terminal (``rows`` x ``columns``) over pipes.
    Replies: SPAWN_RESULT, PTY_OUTPUT*, PTY_EXIT, END.
    """

    OPCODE = Opcode.PTY_SPAWN
    FIELDS = (
        Field("command", Kind.STR),
        Field("argv", Kind.STR_LIST),
        Field("cwd", Kind.STR),
        Field("env", Kind.STR_PAIRS),
        Field("use_pty", Kind.BOOL),
        Field("rows", Kind.U16),
        Field("columns", Kind.U16),
    )
    command: str = ""
    argv: tuple[str, ...] = ()
    cwd: str = ""
    env: tuple[tuple[str, str], ...] = ()
    use_pty: bool = False
    rows: int = 24
    columns: int = 80

    def __post_init__(self) -> None:
        if bool(self.command) == bool(self.argv):
            raise ValueError("give exactly one of command and argv")
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "env", tuple((str(k), str(v)) for k, v in self.env))
        _check_range("rows", self.rows, _MAX_U16)
        _check_range("columns", self.columns, _MAX_U16)


@dataclass(frozen=True, slots=True)
class PtyInput(Message):
    """Bytes for the process's stdin (the original PTY_INPUT: the raw bytes)."""

    OPCODE = Opcode.PTY_INPUT
    FIELDS = (Field("data", Kind.REST),)
    data: bytes


@dataclass(frozen=True, slots=True)
class WriteOpenRequest(Message):
    """Start an atomic write; then WriteChunkData*, then WriteCommit or WriteAbort."""

    OPCODE = Opcode.VFS_WRITE_OPEN
    FIELDS = (Field("path", Kind.STR),)
    path: str


@dataclass(frozen=True, slots=True)
class WriteCommit(Message):
    """Commit if exactly ``expected_size`` bytes with this SHA-256 arrived; reply WRITE_RESULT."""

    OPCODE = Opcode.VFS_WRITE_COMMIT
    FIELDS = (Field("expected_size", Kind.U64), Field("expected_sha256", Kind.SHA256))
    expected_size: int
    expected_sha256: bytes

    def __post_init__(self) -> None:
        _check_digest(self.expected_sha256)


@dataclass(frozen=True, slots=True)
class WriteAbort(Message):
    """Discard the write; reply OK."""

    OPCODE = Opcode.VFS_WRITE_ABORT
    FIELDS = ()


@dataclass(frozen=True, slots=True)
class RemoveRequest(Message):
    OPCODE = Opcode.VFS_REMOVE
    FIELDS = (Field("path", Kind.STR), Field("recursive", Kind.BOOL))
    path: str
    recursive: bool = False


@dataclass(frozen=True, slots=True)
class StatRequest(Message):
    OPCODE = Opcode.VFS_STAT
    FIELDS = (Field("path", Kind.STR),)
    path: str


@dataclass(frozen=True, slots=True)
class HashRequest(Message):
    OPCODE = Opcode.VFS_HASH
    FIELDS = (Field("path", Kind.STR),)
    path: str


@dataclass(frozen=True, slots=True)
class ListTreeRequest(Message):
    """Replies: TREE_RESULT* (a listing may span frames), END."""

    OPCODE = Opcode.VFS_LIST_TREE
    FIELDS = (Field("path", Kind.STR),)
    path: str


@dataclass(frozen=True, slots=True)
class RecentHashesRequest(Message):
    OPCODE = Opcode.VFS_RECENT_HASHES
    FIELDS = (Field("limit", Kind.U32),)
    limit: int


@dataclass(frozen=True, slots=True)
class CwdRequest(Message):
    OPCODE = Opcode.VFS_CWD
    FIELDS = ()


@dataclass(frozen=True, slots=True)
class ResizeRequest(Message):
    """Resize the stream's terminal (on a PTY_SPAWN or PTY_ATTACH stream)."""

    OPCODE = Opcode.PTY_RESIZE
    FIELDS = (Field("rows", Kind.U16), Field("columns", Kind.U16))
    rows: int
    columns: int


@dataclass(frozen=True, slots=True)
class SignalRequest(Message):
    """Signal process group ``pid`` (0: the stream's own process); reply SIGNAL_RESULT."""

    OPCODE = Opcode.PTY_SIGNAL
    FIELDS = (Field("pid", Kind.U32), Field("signal", Kind.U16))
    pid: int
    signal: int


@dataclass(frozen=True, slots=True)
class CloseStdinRequest(Message):
    OPCODE = Opcode.PTY_CLOSE_STDIN
    FIELDS = ()


@dataclass(frozen=True, slots=True)
class AttachRequest(Message):
    """Reattach to process ``pid``, replaying its output from byte ``from_offset`` (as far as
    the guest's bounded buffer still holds it). Replies as for PTY_SPAWN."""

    OPCODE = Opcode.PTY_ATTACH
    FIELDS = (Field("pid", Kind.U32), Field("from_offset", Kind.U64))
    pid: int
    from_offset: int = 0


@dataclass(frozen=True, slots=True)
class RunRequest(Message):
    """``TerminalProvider.run``: reply RUN_RESULT."""

    OPCODE = Opcode.PTY_RUN
    FIELDS = (Field("command", Kind.STR), Field("timeout", Kind.F64))
    command: str
    timeout: float


@dataclass(frozen=True, slots=True)
class PollRequest(Message):
    """``TerminalProvider.poll``: reply RUN_RESULT."""

    OPCODE = Opcode.PTY_POLL
    FIELDS = (Field("pid", Kind.U32), Field("timeout", Kind.F64))
    pid: int
    timeout: float


@dataclass(frozen=True, slots=True)
class ListProcessesRequest(Message):
    """``TerminalProvider.active_pids``: reply PROCESS_LIST."""

    OPCODE = Opcode.PTY_LIST
    FIELDS = ()


@dataclass(frozen=True, slots=True)
class CloseTerminalRequest(Message):
    """``TerminalProvider.close``: end every process this client started; reply OK."""

    OPCODE = Opcode.PTY_CLOSE_ALL
    FIELDS = ()
