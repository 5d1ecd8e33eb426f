"""Error codes carried on the wire, and the exceptions for protocol violations.

Two families, as in h11: ``ProtocolError`` (the peer, or the bytes, broke the protocol; each
subclass carries structured fields and the wire ``ErrorCode`` a GOAWAY or RESET reports) and
``UsageError`` (the local caller misused the API; a bug in the caller).
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorCode(enum.IntEnum):
    """Why something failed, as a ``u16`` on the wire.

    Codes 1..14 carry the engine's ``ErrorCode`` names one for one (the remote layer maps by
    name); 15..255 are further operation failures; 256 and up are protocol failures (GOAWAY
    and RESET reasons).
    """

    NO_ERROR = 0
    NOT_FOUND = 1
    OUTSIDE_WORKSPACE = 2
    INVALID_PATH = 3
    IS_A_DIRECTORY = 4
    NOT_A_DIRECTORY = 5
    PERMISSION_DENIED = 6
    TOO_LARGE = 7
    WRITER_CLOSED = 8
    UNKNOWN_PROCESS = 9
    INVALID_SIGNAL = 10
    SPAWN_FAILED = 11
    CLOSED = 12
    CONNECTION_LOST = 13
    IO_ERROR = 14
    WRITE_MISMATCH = 15
    """A write's commit named a size or SHA-256 other than what the guest received."""
    UNSUPPORTED_OPERATION = 16
    """The peer does not serve this request opcode."""
    INTERNAL_ERROR = 17
    PROTOCOL_ERROR = 256
    INVALID_MAGIC = 257
    UNKNOWN_OPCODE = 258
    FRAME_TOO_LARGE = 259
    MALFORMED_PAYLOAD = 260
    FLOW_CONTROL = 261
    STREAM_LIMIT = 262
    CONTROL_FLOOD = 263
    HANDSHAKE_FAILED = 264
    AUTH_FAILED = 265
    UNSUPPORTED_VERSION = 266
    STREAM_CLOSED = 267
    CANCELLED = 268
    SHUTTING_DOWN = 269


class UsageError(Exception):
    """The local caller misused the API (sent on a closed stream, exceeded a limit, ...)."""


class ProtocolError(Exception):
    """The bytes or the peer broke the protocol. ``code`` is what a GOAWAY reports."""

    code: ClassVar[ErrorCode] = ErrorCode.PROTOCOL_ERROR

    def __init__(self, message: str, *, stream_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stream_id = stream_id


class FrameTooShort(ProtocolError):
    """Fewer bytes than a 13-byte header (``Frame.decode``)."""

    def __init__(self, *, length: int) -> None:
        super().__init__(f"frame too short: {length} bytes, a header needs 13")
        self.length = length


class InvalidMagic(ProtocolError):
    """A header did not start with ``b"SA3P"``; fatal, there is no resynchronisation."""

    code = ErrorCode.INVALID_MAGIC

    def __init__(self, *, found: bytes, offset: int) -> None:
        super().__init__(f"invalid magic {found!r} at byte {offset}")
        self.found = found
        self.offset = offset


class UnknownOpcode(ProtocolError):
    """A header named an opcode this implementation does not know."""

    code = ErrorCode.UNKNOWN_OPCODE

    def __init__(self, *, opcode: int, stream_id: int, offset: int) -> None:
        super().__init__(f"unknown opcode 0x{opcode:02x} at byte {offset}", stream_id=stream_id)
        self.opcode = opcode
        self.offset = offset


class IncompletePayload(ProtocolError):
    """``Frame.decode`` got fewer payload bytes than the header announced."""

    def __init__(self, *, expected: int, available: int) -> None:
        super().__init__(f"incomplete payload: {available} of {expected} bytes")
        self.expected = expected
        self.available = available


class TrailingBytes(ProtocolError):
    """``Frame.decode`` got bytes after the one frame."""

    def __init__(self, *, extra: int) -> None:
        super().__init__(f"{extra} trailing bytes after the frame")
        self.extra = extra


class PayloadTooLarge(ProtocolError):
    """A header announced more payload than the limit; raised before any payload is buffered."""

    code = ErrorCode.FRAME_TOO_LARGE

    def __init__(self, *, length: int, limit: int, stream_id: int, offset: int) -> None:
        super().__init__(
            f"payload of {length} bytes exceeds the limit of {limit} (stream {stream_id}, "
            f"byte {offset})",
            stream_id=stream_id,
        )
        self.length = length
        self.limit = limit
        self.offset = offset


class MalformedPayload(ProtocolError):
    """A payload does not match its opcode's layout."""

    code = ErrorCode.MALFORMED_PAYLOAD

    def __init__(self, *, opcode: int, reason: str, stream_id: int | None = None) -> None:
        super().__init__(
            f"malformed payload for opcode 0x{opcode:02x}: {reason}", stream_id=stream_id
        )
        self.opcode = opcode
        self.reason = reason


class FlowControlError(ProtocolError):
    """The peer sent more than its window allowed, or overflowed a window with an update."""

    code = ErrorCode.FLOW_CONTROL


class StreamLimitExceeded(ProtocolError):
    """The peer opened more concurrent streams than we advertised."""

    code = ErrorCode.STREAM_LIMIT


class ControlFlood(ProtocolError):
    """The peer sent too many control frames (pings, resets...) without stream progress."""

    code = ErrorCode.CONTROL_FLOOD


class HandshakeFailed(ProtocolError):
    """The HELLO/AUTH exchange was out of order or its values were unacceptable."""

    code = ErrorCode.HANDSHAKE_FAILED


class AuthenticationFailed(HandshakeFailed):
    """A proof did not match the token (or one side has no token)."""

    code = ErrorCode.AUTH_FAILED


class UnsupportedVersion(HandshakeFailed):
    """The peer speaks another protocol version."""

    code = ErrorCode.UNSUPPORTED_VERSION


class UnexpectedFrame(ProtocolError):
    """A frame arrived where the protocol does not allow it (wrong stream, wrong state)."""
