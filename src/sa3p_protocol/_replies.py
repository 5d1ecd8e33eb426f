"""Reply and control payloads."""

from __future__ import annotations

from dataclasses import dataclass

from sa3p_protocol._errors import ErrorCode
from sa3p_protocol._frames import Opcode
from sa3p_protocol._schema import Field, Kind, Message

_MAX_U32 = 0xFFFF_FFFF


def _check_digest(value: bytes) -> None:
    if len(value) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, not {len(value)}")


# ---- replies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OkReply(Message):
    OPCODE = Opcode.OK
    FIELDS = ()


@dataclass(frozen=True, slots=True)
class ErrorReply(Message):
    """A typed failure: ``code``, a sentence naming what and where, and ``details``
    (key/value pairs such as ``("path", "src/a.py")``)."""

    OPCODE = Opcode.ERROR
    FIELDS = (Field("code", Kind.U16), Field("message", Kind.STR), Field("details", Kind.STR_PAIRS))
    code: ErrorCode
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", ErrorCode(self.code))
        object.__setattr__(self, "details", tuple((str(k), str(v)) for k, v in self.details))

    def detail(self, key: str) -> str | None:
        """The first detail named ``key``, or None."""
        return next((value for name, value in self.details if name == key), None)


@dataclass(frozen=True, slots=True)
class ReadData(Message):
    OPCODE = Opcode.READ_DATA
    FIELDS = (Field("data", Kind.REST),)
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StatReply(Message):
    OPCODE = Opcode.STAT_RESULT
    FIELDS = (
        Field("path", Kind.STR),
        Field("is_directory", Kind.BOOL),
        Field("size", Kind.U64),
        Field("mtime", Kind.F64),
    )
    path: str
    is_directory: bool
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class HashReply(Message):
    OPCODE = Opcode.HASH_RESULT
    FIELDS = (Field("sha256", Kind.SHA256),)
    sha256: bytes

    def __post_init__(self) -> None:
        _check_digest(self.sha256)


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeEntry(Message):
    """One node of a listing (a record inside TREE_RESULT, not a frame of its own)."""

    FIELDS = (
        Field("path", Kind.STR),
        Field("is_directory", Kind.BOOL),
        Field("descendant_file_count", Kind.U32),
        Field("modified_recently", Kind.BOOL),
    )
    path: str
    is_directory: bool
    descendant_file_count: int = 0
    modified_recently: bool = False


@dataclass(frozen=True, slots=True)
class TreeReply(Message):
    OPCODE = Opcode.TREE_RESULT
    FIELDS = (Field("nodes", Kind.LIST, TreeEntry),)
    nodes: tuple[TreeEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))


@dataclass(frozen=True, slots=True)
class HashEntry(Message):
    """A file and its SHA-256 (a record inside RECENT_HASHES_RESULT)."""

    FIELDS = (Field("path", Kind.STR), Field("sha256", Kind.SHA256))
    path: str
    sha256: bytes

    def __post_init__(self) -> None:
        _check_digest(self.sha256)


@dataclass(frozen=True, slots=True)
class RecentHashesReply(Message):
    OPCODE = Opcode.RECENT_HASHES_RESULT
    FIELDS = (Field("files", Kind.LIST, HashEntry),)
    files: tuple[HashEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteReply(Message):
    OPCODE = Opcode.WRITE_RESULT
    FIELDS = (
        Field("path", Kind.STR),
        Field("bytes_written", Kind.U64),
        Field("sha256", Kind.SHA256),
        Field("created", Kind.BOOL),
    )
    path: str
    bytes_written: int
    sha256: bytes
    created: bool

    def __post_init__(self) -> None:
        _check_digest(self.sha256)


@dataclass(frozen=True, slots=True)
class SpawnReply(Message):
    OPCODE = Opcode.SPAWN_RESULT
    FIELDS = (Field("pid", Kind.U32),)
    pid: int


@dataclass(frozen=True, slots=True)
class PtyOutput(Message):
    """Output bytes starting at byte ``offset`` of the process's whole output (for replay)."""

    OPCODE = Opcode.PTY_OUTPUT
    FIELDS = (Field("offset", Kind.U64), Field("data", Kind.REST))
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class PtyExit(Message):
    """The process ended; ``exit_code`` negative for death by signal (as ``subprocess``)."""

    OPCODE = Opcode.PTY_EXIT
    FIELDS = (
        Field("exit_code", Kind.I64),
        Field("duration", Kind.F64),
        Field("total_bytes", Kind.U64),
    )
    exit_code: int
    duration: float
    total_bytes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalReply(Message):
    OPCODE = Opcode.SIGNAL_RESULT
    FIELDS = (
        Field("pid", Kind.U32),
        Field("signal", Kind.U16),
        Field("exited", Kind.BOOL),
        Field("exit_code", Kind.OPT_I64),
    )
    pid: int
    signal: int
    exited: bool
    exit_code: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReply(Message):
    """``RunResult``'s fields; ``exit_code`` None while the process runs on (detached)."""

    OPCODE = Opcode.RUN_RESULT
    FIELDS = (
        Field("pid", Kind.U32),
        Field("head", Kind.BYTES),
        Field("tail", Kind.BYTES),
        Field("total_bytes", Kind.U64),
        Field("exit_code", Kind.OPT_I64),
        Field("duration", Kind.F64),
    )
    pid: int
    head: bytes
    tail: bytes = b""
    total_bytes: int = 0
    exit_code: int | None = None
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class ProcessListReply(Message):
    OPCODE = Opcode.PROCESS_LIST
    FIELDS = (Field("pids", Kind.U32_LIST),)
    pids: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "pids", tuple(self.pids))


@dataclass(frozen=True, slots=True)
class CwdReply(Message):
    OPCODE = Opcode.CWD_RESULT
    FIELDS = (Field("path", Kind.STR),)
    path: str


# ---- control --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Message):
    """The first frame each way on stream 0: version, limits, features, authentication.

    Attributes:
        version: protocol version (``PROTOCOL_VERSION``).
        is_server: which side sent it.
        max_frame_payload: the largest payload the sender accepts.
        initial_stream_window: the sender's receive window for each new stream.
        connection_window: the sender's receive window for the whole connection.
        max_open_streams: how many streams the other side may have open at once.
        features: optional capabilities; both sides use the intersection.
        nonce: 32 random bytes for the challenge-response.
        auth_required: the server wants an AUTH proof.
        proof: the server's proof (HMAC-SHA256) when it has a token, else empty.
    """

    OPCODE = Opcode.HELLO
    FIELDS = (
        Field("version", Kind.U16),
        Field("is_server", Kind.BOOL),
        Field("max_frame_payload", Kind.U32),
        Field("initial_stream_window", Kind.U32),
        Field("connection_window", Kind.U32),
        Field("max_open_streams", Kind.U32),
        Field("auth_required", Kind.BOOL),
        Field("features", Kind.STR_LIST),
        Field("nonce", Kind.BYTES),
        Field("proof", Kind.BYTES),
    )
    version: int
    is_server: bool
    max_frame_payload: int
    initial_stream_window: int
    connection_window: int
    max_open_streams: int
    auth_required: bool = False
    features: tuple[str, ...] = ()
    nonce: bytes = b""
    proof: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))


@dataclass(frozen=True, slots=True)
class Auth(Message):
    """The client's proof: HMAC-SHA256(token, b"sa3p-client" + client nonce + server nonce)."""

    OPCODE = Opcode.AUTH
    FIELDS = (Field("proof", Kind.BYTES),)
    proof: bytes


@dataclass(frozen=True, slots=True)
class Ping(Message):
    OPCODE = Opcode.PING
    FIELDS = (Field("opaque", Kind.U64),)
    opaque: int = 0


@dataclass(frozen=True, slots=True)
class Pong(Message):
    OPCODE = Opcode.PONG
    FIELDS = (Field("opaque", Kind.U64),)
    opaque: int = 0


@dataclass(frozen=True, slots=True)
class GoAway(Message):
    """No new streams after ``last_stream_id`` (the highest peer stream that will be served)."""

    OPCODE = Opcode.GOAWAY
    FIELDS = (
        Field("last_stream_id", Kind.U32),
        Field("code", Kind.U16),
        Field("message", Kind.STR),
    )
    last_stream_id: int
    code: ErrorCode
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", ErrorCode(self.code))


@dataclass(frozen=True, slots=True)
class WindowUpdate(Message):
    """Credit ``increment`` more bytes to the frame's stream (0: the connection)."""

    OPCODE = Opcode.WINDOW_UPDATE
    FIELDS = (Field("increment", Kind.U32),)
    increment: int

    def __post_init__(self) -> None:
        if not 1 <= self.increment <= _MAX_U32:
            raise ValueError(f"window increment {self.increment} outside 1..{_MAX_U32}")


@dataclass(frozen=True, slots=True)
class Reset(Message):
    """Abandon the frame's stream at once, both directions."""

    OPCODE = Opcode.RESET
    FIELDS = (Field("code", Kind.U16), Field("message", Kind.STR))
    code: ErrorCode
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", ErrorCode(self.code))


@dataclass(frozen=True, slots=True)
class End(Message):
    """The sender has nothing more to send on this stream (a half-close)."""

    OPCODE = Opcode.END
    FIELDS = ()
