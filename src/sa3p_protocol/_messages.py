"""Typed payloads: one frozen dataclass per opcode, its layout declared once in ``FIELDS``.

Requests open a stream; replies come back on it; every request ends with a result or an
``ErrorReply`` (docs/PROTOCOL.md lists which reply answers which request).
"""

from __future__ import annotations

from sa3p_protocol._errors import MalformedPayload
from sa3p_protocol._frames import Frame, Opcode
from sa3p_protocol._replies import (
    Auth,
    CwdReply,
    End,
    ErrorReply,
    GoAway,
    HashEntry,
    HashReply,
    Hello,
    OkReply,
    Ping,
    Pong,
    ProcessListReply,
    PtyExit,
    PtyOutput,
    ReadData,
    RecentHashesReply,
    Reset,
    RunReply,
    SignalReply,
    SpawnReply,
    StatReply,
    TreeEntry,
    TreeReply,
    WindowUpdate,
    WriteReply,
)
from sa3p_protocol._requests import (
    AttachRequest,
    CloseStdinRequest,
    CloseTerminalRequest,
    CwdRequest,
    HashRequest,
    ListProcessesRequest,
    ListTreeRequest,
    PollRequest,
    PtyInput,
    ReadRequest,
    RecentHashesRequest,
    RemoveRequest,
    RenameRequest,
    ResizeRequest,
    RunRequest,
    SignalRequest,
    SpawnRequest,
    StatRequest,
    WriteAbort,
    WriteChunkData,
    WriteCommit,
    WriteOpenRequest,
)
from sa3p_protocol._schema import Kind, Message, decode_with, layout_of

_PAYLOAD_TYPES: tuple[type[Message], ...] = (
    ReadRequest,
    WriteChunkData,
    RenameRequest,
    SpawnRequest,
    PtyInput,
    WriteOpenRequest,
    WriteCommit,
    WriteAbort,
    RemoveRequest,
    StatRequest,
    HashRequest,
    ListTreeRequest,
    RecentHashesRequest,
    CwdRequest,
    ResizeRequest,
    SignalRequest,
    CloseStdinRequest,
    AttachRequest,
    RunRequest,
    PollRequest,
    ListProcessesRequest,
    CloseTerminalRequest,
    OkReply,
    ErrorReply,
    ReadData,
    StatReply,
    HashReply,
    TreeEntry,
    TreeReply,
    HashEntry,
    RecentHashesReply,
    WriteReply,
    SpawnReply,
    PtyOutput,
    PtyExit,
    SignalReply,
    RunReply,
    ProcessListReply,
    CwdReply,
    Hello,
    Auth,
    Ping,
    Pong,
    GoAway,
    WindowUpdate,
    Reset,
    End,
)
MESSAGE_TYPES: dict[Opcode, type[Message]] = {
    cls.OPCODE: cls for cls in _PAYLOAD_TYPES if cls.OPCODE is not None
}
RECORD_TYPES: tuple[type[Message], ...] = (TreeEntry, HashEntry)

REQUEST_OPCODES = frozenset(op for op in Opcode if op < 0x40)
REPLY_OPCODES = frozenset(op for op in Opcode if 0x40 <= op < 0x70)
CONTROL_OPCODES = frozenset(op for op in Opcode if op >= 0x70)
STREAM_OPENING_OPCODES = REQUEST_OPCODES - {
    Opcode.VFS_WRITE_CHUNK,
    Opcode.PTY_INPUT,
    Opcode.VFS_WRITE_COMMIT,
    Opcode.VFS_WRITE_ABORT,
    Opcode.PTY_RESIZE,
    Opcode.PTY_CLOSE_STDIN,
}
"""Opcodes that may open a stream (PTY_SIGNAL may also travel on a process stream)."""


def encode_message(message: Message) -> bytes:
    """The payload bytes of ``message``."""
    return layout_of(type(message)).encode(message)


def decode_message(opcode: Opcode, payload: bytes) -> Message:
    """Decode a frame's payload into its typed value.

    Raises:
        MalformedPayload: the payload does not match the opcode's layout.
    """
    cls = MESSAGE_TYPES.get(opcode)
    if cls is None:
        raise MalformedPayload(opcode=opcode, reason="no payload type for this opcode")
    if cls.FIELDS and cls.FIELDS[-1].kind is Kind.REST and len(cls.FIELDS) == 1:
        return cls(payload)  # type: ignore[call-arg]  # bulk data: no layout work
    message: Message = decode_with(cls, opcode, payload)
    return message


def message_frame(stream_id: int, message: Message) -> Frame:
    """A frame carrying ``message`` on ``stream_id``."""
    opcode = type(message).OPCODE
    if opcode is None:
        raise TypeError(f"{type(message).__name__} is a record, not a frame payload")
    return Frame(stream_id, opcode, encode_message(message))
