"""Error codes carried on the wire, and the exceptions for protocol violations.

Two families, as in h11: ``ProtocolError`` (the peer, or the bytes, broke the protocol; each
subclass carries structured fields and the ``WireErrorCode`` a GOAWAY or RESET reports) and
``UsageError`` (the local caller misused the API; a bug in the caller). Only the frame and
payload errors reach users (from ``Frame.decode``, ``FrameCodec.feed``, ``decode_message``);
inside a ``Connection`` every ``ProtocolError`` becomes a ``ConnectionFailed`` or
``StreamReset`` event carrying its code.
"""

from __future__ import annotations

import enum


class WireErrorCode(enum.IntEnum):
    """Why something failed, as a ``u16`` on the wire.

    Codes 1..14 carry the names of ``sa3p_engine.ErrorCode`` one for one (the remote layer maps by
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
    """The bytes or the peer broke the protocol (as h11's ``RemoteProtocolError``).

    Attributes:
        code: what the GOAWAY or RESET reports: the subclasses below have their own; inside the
            ``Connection`` it names the rule broken (``FLOW_CONTROL``, ``STREAM_LIMIT``,
            ``CONTROL_FLOOD``, ``HANDSHAKE_FAILED``, ``AUTH_FAILED``, ``UNSUPPORTED_VERSION``,
            ``PROTOCOL_ERROR`` for a frame where it is not allowed).
        message: a sentence saying what happened.
        stream_id: the stream concerned, if any.
    """

    def __init__(self, code: WireErrorCode, message: str, *, stream_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.stream_id = stream_id


class FrameTooShort(ProtocolError):
    """Fewer bytes than a 13-byte header (``Frame.decode``)."""

    def __init__(self, *, length: int) -> None:
        super().__init__(
            WireErrorCode.PROTOCOL_ERROR, f"frame too short: {length} bytes, a header needs 13"
        )
        self.length = length


class InvalidMagic(ProtocolError):
    """A header did not start with ``b"SA3P"``; fatal, there is no resynchronisation.

    Attributes:
        found: the header's first bytes, up to 4: fewer when they differed before 4 arrived.
        offset: where the header starts in the stream.
    """

    def __init__(self, *, found: bytes, offset: int) -> None:
        super().__init__(WireErrorCode.INVALID_MAGIC, f"invalid magic {found!r} at byte {offset}")
        self.found = found
        self.offset = offset


class UnknownOpcode(ProtocolError):
    """A header named an opcode this implementation does not know."""

    def __init__(self, *, opcode: int, stream_id: int, offset: int) -> None:
        super().__init__(
            WireErrorCode.UNKNOWN_OPCODE,
            f"unknown opcode 0x{opcode:02x} at byte {offset}",
            stream_id=stream_id,
        )
        self.opcode = opcode
        self.offset = offset


class IncompletePayload(ProtocolError):
    """``Frame.decode`` got fewer payload bytes than the header announced."""

    def __init__(self, *, expected: int, available: int) -> None:
        super().__init__(
            WireErrorCode.PROTOCOL_ERROR, f"incomplete payload: {available} of {expected} bytes"
        )
        self.expected = expected
        self.available = available


class TrailingBytes(ProtocolError):
    """``Frame.decode`` got bytes after the one frame."""

    def __init__(self, *, extra: int) -> None:
        super().__init__(WireErrorCode.PROTOCOL_ERROR, f"{extra} trailing bytes after the frame")
        self.extra = extra


class PayloadTooLarge(ProtocolError):
    """A header announced more payload than the limit; raised before any payload is buffered.

    ``handshake``: the limit was ``HANDSHAKE_MAX_PAYLOAD``, which holds until the handshake
    completes (docs/PROTOCOL.md §3).
    """

    def __init__(
        self, *, length: int, limit: int, stream_id: int, offset: int, handshake: bool = False
    ) -> None:
        when = " before the handshake completed" if handshake else ""
        super().__init__(
            WireErrorCode.FRAME_TOO_LARGE,
            f"payload of {length} bytes exceeds the limit of {limit}{when} (stream {stream_id}, "
            f"byte {offset})",
            stream_id=stream_id,
        )
        self.length = length
        self.limit = limit
        self.offset = offset


class MalformedPayload(ProtocolError):
    """A payload does not match its opcode's layout."""

    def __init__(self, *, opcode: int, reason: str) -> None:
        message = f"malformed payload for opcode 0x{opcode:02x}: {reason}"
        super().__init__(WireErrorCode.MALFORMED_PAYLOAD, message)
        self.opcode = opcode
        self.reason = reason
