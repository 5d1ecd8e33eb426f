"""Every wire message, each declared once: its opcode, its fields and their wire kinds.

``@message(Opcode.X)`` registers a class under its frame type; ``@record()`` declares values
that travel inside a list (``Records[...]``). A field's annotation is its layout (docs/PROTOCOL.md
§2): the codec, the constructors' checks and the tests' construct oracle all come from these
declarations, in field order. Requests open a stream (or continue a write or process stream);
every request is answered on its stream by its result or an ``ErrorReply``, then END. Control
messages travel on stream 0 (WINDOW_UPDATE, RESET and END also on a stream).
"""

from __future__ import annotations

from sa3p_protocol._frames import Opcode
from sa3p_protocol._payload_codec import (
    F64,
    I64,
    U16,
    U32,
    U64,
    Bool,
    Bytes,
    Code,
    Message,
    OptI64,
    OptU64,
    Records,
    Rest,
    Sha256,
    Str,
    StrList,
    StrPairs,
    U32List,
    message,
    record,
)

# ---- requests ---------------------------------------------------------------------------------


@message(Opcode.VFS_READ)
class ReadRequest(Message):
    """Read ``length`` bytes (None: to the end) from ``offset``; replies: READ_DATA*, END."""

    path: Str
    offset: U64 = 0
    length: OptU64 = None


@message(Opcode.VFS_WRITE_CHUNK)
class WriteChunkData(Message):
    """A piece of a streaming write's body (the original VFS_WRITE_CHUNK: the raw bytes)."""

    data: Rest


@message(Opcode.VFS_RENAME)
class RenameRequest(Message):
    source: Str
    destination: Str


@message(Opcode.PTY_SPAWN, kw_only=True)
class SpawnRequest(Message):
    """Start a process: ``command`` through the shell, or ``argv`` directly (exactly one).

    ``cwd`` empty means the workspace root; ``env`` entries are added to the guest's
    environment; ``use_pty`` selects a terminal (``rows`` x ``columns``) over pipes.
    Replies: SPAWN_RESULT, PTY_OUTPUT*, PTY_EXIT, END.
    """

    command: Str = ""
    argv: StrList = ()
    cwd: Str = ""
    env: StrPairs = ()
    use_pty: Bool = False
    rows: U16 = 24
    columns: U16 = 80

    def __post_init__(self) -> None:
        Message.__post_init__(self)
        if bool(self.command) == bool(self.argv):
            raise ValueError("give exactly one of command and argv")


@message(Opcode.PTY_INPUT)
class PtyInput(Message):
    """Bytes for the process's stdin (the original PTY_INPUT: the raw bytes)."""

    data: Rest


@message(Opcode.VFS_WRITE_OPEN)
class WriteOpenRequest(Message):
    """Start an atomic write; then WriteChunkData*, then WriteCommit or WriteAbort."""

    path: Str


@message(Opcode.VFS_WRITE_COMMIT)
class WriteCommit(Message):
    """Commit if exactly ``expected_size`` bytes with this SHA-256 arrived; reply WRITE_RESULT."""

    expected_size: U64
    expected_sha256: Sha256


@message(Opcode.VFS_WRITE_ABORT)
class WriteAbort(Message):
    """Discard the write; reply OK."""


@message(Opcode.VFS_REMOVE)
class RemoveRequest(Message):
    path: Str
    recursive: Bool = False


@message(Opcode.VFS_STAT)
class StatRequest(Message):
    """Reply STAT_RESULT."""

    path: Str


@message(Opcode.VFS_HASH)
class HashRequest(Message):
    """Reply HASH_RESULT."""

    path: Str


@message(Opcode.VFS_LIST_TREE)
class ListTreeRequest(Message):
    """Replies: TREE_RESULT* (a listing may span frames), END."""

    path: Str


@message(Opcode.VFS_RECENT_HASHES)
class RecentHashesRequest(Message):
    limit: U32


@message(Opcode.VFS_RECENTLY_MODIFIED)
class RecentlyModifiedRequest(Message):
    """Which of ``paths`` were modified recently; reply RECENTLY_MODIFIED_RESULT. Sent only to a
    guest that offered the ``recently_modified`` feature (an older guest closes the connection
    on an unknown opcode)."""

    paths: StrList


@message(Opcode.VFS_CWD)
class CwdRequest(Message):
    """Reply CWD_RESULT: the workspace directory."""


@message(Opcode.PTY_RESIZE)
class ResizeRequest(Message):
    """Resize the stream's terminal (on a PTY_SPAWN or PTY_ATTACH stream)."""

    rows: U16
    columns: U16


@message(Opcode.PTY_SIGNAL)
class SignalRequest(Message):
    """Signal process group ``pid`` (0: the stream's own process); reply SIGNAL_RESULT."""

    pid: U32
    signal: U16


@message(Opcode.PTY_CLOSE_STDIN)
class CloseStdinRequest(Message):
    """Pipes: close the process's stdin; a terminal: send EOT (^D)."""


@message(Opcode.PTY_ATTACH)
class AttachRequest(Message):
    """Reattach to process ``pid``, replaying its output from byte ``from_offset`` (as far as
    the guest's bounded buffer still holds it). Replies as for PTY_SPAWN."""

    pid: U32
    from_offset: U64 = 0


@message(Opcode.PTY_RUN)
class RunRequest(Message):
    """``TerminalProvider.run``: reply RUN_RESULT."""

    command: Str
    timeout: F64


@message(Opcode.PTY_POLL)
class PollRequest(Message):
    """``TerminalProvider.poll``: reply RUN_RESULT."""

    pid: U32
    timeout: F64


@message(Opcode.PTY_LIST)
class ListProcessesRequest(Message):
    """``TerminalProvider.active_pids``: reply PROCESS_LIST."""


@message(Opcode.PTY_CLOSE_ALL)
class CloseTerminalRequest(Message):
    """``TerminalProvider.close``: end every process this client started; reply OK."""


# ---- replies ----------------------------------------------------------------------------------


@message(Opcode.OK)
class OkReply(Message):
    """Done, with nothing to report (abort, close, rename, remove)."""


@message(Opcode.ERROR)
class ErrorReply(Message):
    """A typed failure: ``code``, a sentence naming what and where, and ``details``
    (key/value pairs such as ``("path", "src/a.py")``)."""

    code: Code
    message: Str
    details: StrPairs = ()

    def detail(self, key: str) -> str | None:
        """The first detail named ``key``, or None."""
        return next((value for name, value in self.details if name == key), None)


@message(Opcode.READ_DATA)
class ReadData(Message):
    data: Rest


@message(Opcode.STAT_RESULT, kw_only=True)
class StatReply(Message):
    path: Str
    is_directory: Bool
    size: U64
    mtime: F64


@message(Opcode.HASH_RESULT)
class HashReply(Message):
    sha256: Sha256


@record(kw_only=True)
class TreeEntry(Message):
    """One node of a listing (a record inside TREE_RESULT, not a frame of its own)."""

    path: Str
    is_directory: Bool
    descendant_file_count: U32 = 0
    modified_recently: Bool = False


@message(Opcode.TREE_RESULT)
class TreeReply(Message):
    nodes: Records[TreeEntry]


@record()
class HashEntry(Message):
    """A file and its SHA-256 (a record inside RECENT_HASHES_RESULT)."""

    path: Str
    sha256: Sha256


@message(Opcode.RECENT_HASHES_RESULT)
class RecentHashesReply(Message):
    files: Records[HashEntry]


@message(Opcode.WRITE_RESULT, kw_only=True)
class WriteReply(Message):
    path: Str
    bytes_written: U64
    sha256: Sha256
    created: Bool


@message(Opcode.SPAWN_RESULT)
class SpawnReply(Message):
    pid: U32


@message(Opcode.PTY_OUTPUT)
class PtyOutput(Message):
    """Output bytes starting at byte ``offset`` of the process's whole output (for replay)."""

    offset: U64
    data: Rest


@message(Opcode.PTY_EXIT)
class PtyExit(Message):
    """The process ended; ``exit_code`` negative for death by signal (as ``subprocess``)."""

    exit_code: I64
    duration: F64
    total_bytes: U64 = 0


@message(Opcode.SIGNAL_RESULT, kw_only=True)
class SignalReply(Message):
    pid: U32
    signal: U16
    exited: Bool
    exit_code: OptI64 = None


@message(Opcode.RUN_RESULT, kw_only=True)
class RunReply(Message):
    """``RunResult``'s fields; ``exit_code`` None while the process runs on (detached)."""

    pid: U32
    head: Bytes
    tail: Bytes = b""
    total_bytes: U64 = 0
    exit_code: OptI64 = None
    duration: F64 = 0.0


@message(Opcode.PROCESS_LIST)
class ProcessListReply(Message):
    pids: U32List


@message(Opcode.CWD_RESULT)
class CwdReply(Message):
    path: Str


@message(Opcode.RECENTLY_MODIFIED_RESULT)
class RecentlyModifiedReply(Message):
    """The asked paths modified within the guest's recent window, in the order asked."""

    paths: StrList


# ---- control ----------------------------------------------------------------------------------


@message(Opcode.HELLO, kw_only=True)
class Hello(Message):
    """The first frame each way on stream 0: version, limits, features, authentication.

    Attributes:
        version: protocol version (``PROTOCOL_VERSION``).
        is_server: which side sent it.
        max_frame_payload: the largest payload the sender accepts.
        initial_stream_window: the sender's receive window for each new stream.
        connection_window: the sender's receive window for the whole connection.
        max_open_streams: how many streams the other side may have open at once.
        auth_required: the server wants an AUTH proof.
        features: optional capabilities; both sides use the intersection.
        nonce: 32 random bytes for the challenge-response.
        proof: the server's proof (HMAC-SHA256) when it has a token, else empty.
    """

    version: U16
    is_server: Bool
    max_frame_payload: U32
    initial_stream_window: U32
    connection_window: U32
    max_open_streams: U32
    auth_required: Bool = False
    features: StrList = ()
    nonce: Bytes = b""
    proof: Bytes = b""


@message(Opcode.AUTH)
class Auth(Message):
    """The client's proof: HMAC-SHA256(token, b"sa3p-client" + client nonce + server nonce)."""

    proof: Bytes


@message(Opcode.PING)
class Ping(Message):
    opaque: U64 = 0


@message(Opcode.PONG)
class Pong(Message):
    opaque: U64 = 0


@message(Opcode.GOAWAY)
class GoAway(Message):
    """No new streams after ``last_stream_id`` (the highest peer stream that will be served)."""

    last_stream_id: U32
    code: Code
    message: Str = ""


@message(Opcode.WINDOW_UPDATE)
class WindowUpdate(Message):
    """Credit ``increment`` (at least 1) more bytes to the frame's stream (0: the connection)."""

    increment: U32

    def __post_init__(self) -> None:
        Message.__post_init__(self)
        if self.increment == 0:
            raise ValueError("a window increment of 0")


@message(Opcode.RESET)
class Reset(Message):
    """Abandon the frame's stream at once, both directions."""

    code: Code
    message: Str = ""


@message(Opcode.END)
class End(Message):
    """The sender has nothing more to send on this stream (a half-close)."""


__all__ = [
    name
    for name, value in list(globals().items())
    if isinstance(value, type) and issubclass(value, Message) and value is not Message
]
"""Every message and record declared above, and nothing imported."""
