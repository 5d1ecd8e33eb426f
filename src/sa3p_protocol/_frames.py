"""The frame layer: header layout, opcodes, ``Frame``, the incremental ``FrameCodec`` and the
per-stream ``Multiplexer``.

Wire layout (kept exactly from the original sa3p): ``b"SA3P"``, stream id (u32 big-endian),
opcode (u8), payload length (u32 big-endian), 13 bytes, then the payload.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from itertools import repeat
from typing import Any, NamedTuple

from sa3p_protocol._wire_errors import (
    FrameTooShort,
    IncompletePayload,
    InvalidMagic,
    PayloadTooLarge,
    ProtocolError,
    TrailingBytes,
    UnknownOpcode,
)

MAGIC = b"SA3P"
HEADER_LEN = 13
DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024
MAX_STREAM_ID = 0xFFFF_FFFF

_HEADER = struct.Struct(">4sIBI")
_LENGTH = struct.Struct(">I")  # the header's last field, at byte 9
_COMPACT_AT = 64 * 1024  # compact the receive buffer once this much has been consumed


class Opcode(enum.IntEnum):
    """Frame types. 0x01..0x05 keep the original numbers and meaning; the rest are additions.

    Requests open a stream (0x01..0x3f), replies flow back on it (0x40..0x6f), control frames
    (0x70..) are not flow-controlled. docs/PROTOCOL.md gives each payload's layout.
    """

    VFS_READ = 0x01
    VFS_WRITE_CHUNK = 0x02
    VFS_RENAME = 0x03
    PTY_SPAWN = 0x04
    PTY_INPUT = 0x05
    VFS_WRITE_OPEN = 0x06
    VFS_WRITE_COMMIT = 0x07
    VFS_WRITE_ABORT = 0x08
    VFS_REMOVE = 0x09
    VFS_STAT = 0x0A
    VFS_HASH = 0x0B
    VFS_LIST_TREE = 0x0C
    VFS_RECENT_HASHES = 0x0D
    VFS_CWD = 0x0E
    VFS_RECENTLY_MODIFIED = 0x0F
    PTY_RESIZE = 0x10
    PTY_SIGNAL = 0x11
    PTY_CLOSE_STDIN = 0x12
    PTY_ATTACH = 0x13
    PTY_RUN = 0x14
    PTY_POLL = 0x15
    PTY_LIST = 0x16
    PTY_CLOSE_ALL = 0x17
    OK = 0x40
    ERROR = 0x41
    READ_DATA = 0x42
    STAT_RESULT = 0x43
    HASH_RESULT = 0x44
    TREE_RESULT = 0x45
    RECENT_HASHES_RESULT = 0x46
    WRITE_RESULT = 0x47
    SPAWN_RESULT = 0x48
    PTY_OUTPUT = 0x49
    PTY_EXIT = 0x4A
    SIGNAL_RESULT = 0x4B
    RUN_RESULT = 0x4C
    PROCESS_LIST = 0x4D
    CWD_RESULT = 0x4E
    RECENTLY_MODIFIED_RESULT = 0x4F
    HELLO = 0x70
    AUTH = 0x71
    PING = 0x72
    PONG = 0x73
    GOAWAY = 0x74
    WINDOW_UPDATE = 0x75
    RESET = 0x76
    END = 0x77


# Indexed by the opcode byte: a list lookup is the cheapest "known opcode?" test on the hot path.
_OPCODE_TABLE: list[Opcode | None] = [None] * 256
for _opcode in Opcode:
    _OPCODE_TABLE[_opcode.value] = _opcode

CONTROL_OPCODES = frozenset(opcode for opcode in Opcode if opcode >= 0x70)
STREAM_OPENING_OPCODES = frozenset(opcode for opcode in Opcode if opcode < 0x40) - {
    Opcode.VFS_WRITE_CHUNK,
    Opcode.PTY_INPUT,
    Opcode.VFS_WRITE_COMMIT,
    Opcode.VFS_WRITE_ABORT,
    Opcode.PTY_RESIZE,
    Opcode.PTY_CLOSE_STDIN,
}
"""Requests that may open a stream (PTY_SIGNAL may also travel on a process stream); the other
requests continue a write or process stream."""


class _FrameFields(NamedTuple):
    stream_id: int
    opcode: Opcode
    payload: bytes


class Frame(_FrameFields):
    """One frame: immutable, validated on construction.

    A tuple subclass rather than a frozen dataclass: building one costs a third as much in
    CPython, which the 64-byte decode figure needs (see docs/PROTOCOL.md, "Performance").

    Attributes:
        stream_id: 0 for the connection, otherwise the stream (u32).
        opcode: the frame type.
        payload: the payload bytes (at most 2**32 - 1).
    """

    __slots__ = ()

    def __new__(cls, stream_id: int, opcode: Opcode | int, payload: bytes = b"") -> Frame:
        if not 0 <= stream_id <= MAX_STREAM_ID:
            raise ValueError(f"stream id {stream_id} outside 0..{MAX_STREAM_ID}")
        if not isinstance(payload, bytes):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        if len(payload) > 0xFFFF_FFFF:
            raise ValueError("payload longer than a u32 length can announce")
        known = _OPCODE_TABLE[opcode] if isinstance(opcode, int) and 0 <= opcode <= 0xFF else None
        if known is None:
            raise ValueError(f"{opcode!r} is not a valid Opcode")
        return _new_frame(cls, (stream_id, known, payload))

    def encode(self) -> bytes:
        """The frame's wire bytes: header then payload."""
        return _HEADER.pack(MAGIC, self.stream_id, self.opcode, len(self.payload)) + self.payload

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Frame:
        """Decode exactly one frame.

        Raises:
            FrameTooShort: fewer than 13 bytes.
            InvalidMagic, UnknownOpcode: a bad header.
            IncompletePayload: fewer payload bytes than announced.
            TrailingBytes: bytes after the frame.
        """
        if len(data) < HEADER_LEN:
            raise FrameTooShort(length=len(data))
        stream_id, opcode, length = _check_header(data, 0, 0, 0xFFFF_FFFF)
        available = len(data) - HEADER_LEN
        if available < length:
            raise IncompletePayload(expected=length, available=available)
        if available > length:
            raise TrailingBytes(extra=available - length)
        return _new_frame(cls, (stream_id, opcode, bytes(data[HEADER_LEN:])))


_new_frame = tuple.__new__  # a Frame from fields already checked
FrameFields = tuple[int, Opcode, bytes]
"""A frame as a plain tuple: ``(stream_id, opcode, payload)``."""


def _check_header(
    data: bytes | bytearray | memoryview, position: int, base: int, limit: int
) -> tuple[int, Opcode, int]:
    """Validate the header at ``position``; ``base`` turns it into a stream offset for errors."""
    magic, stream_id, code, length = _HEADER.unpack_from(data, position)
    if magic != MAGIC:
        raise InvalidMagic(found=bytes(magic), offset=base + position)
    opcode = _OPCODE_TABLE[code]
    if opcode is None:
        raise UnknownOpcode(opcode=code, stream_id=stream_id, offset=base + position)
    if length > limit:
        raise PayloadTooLarge(
            length=length, limit=limit, stream_id=stream_id, offset=base + position
        )
    return stream_id, opcode, length


def _check_magic_prefix(
    data: bytes | bytearray | memoryview, position: int, end: int, base: int
) -> None:
    """Fail on a partial header whose bytes already differ from ``MAGIC``: a peer that is not
    an sa3p peer is known by its first byte, not after 13 (what the Rust decoder waits for)."""
    found = bytes(data[position : min(end, position + len(MAGIC))])
    if not MAGIC.startswith(found):
        raise InvalidMagic(found=found, offset=base + position)


class FrameCodec:
    """Incremental decoder: feed bytes as they arrive, get every complete frame.

    Chunk boundaries carry no meaning. Bytes are never rescanned: a partial frame waits in a
    ``bytearray`` with a read offset, compacted only once 64 KiB have been consumed. A header
    announcing more than ``max_payload`` fails at once, before its payload is buffered; bad
    magic fails on its first wrong byte, even before the header is complete, and is fatal (no
    resynchronisation). After an error every further ``feed`` raises it again.

    Args:
        max_payload: the largest payload accepted (16 MiB by default).
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        if not 0 <= max_payload <= 0xFFFF_FFFF:
            raise ValueError(f"max_payload {max_payload} outside 0..2**32-1")
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._start = 0
        self._consumed = 0  # bytes of the stream before self._buffer[0]
        self._error: ProtocolError | None = None

    @property
    def buffered_len(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buffer) - self._start

    def bytes_wanted(self) -> int:
        """Bytes that would complete the next frame's header or, once it is here, the frame.

        Feeding no more than this keeps the buffer within one frame (the ``Connection`` does so
        until its handshake completes).
        """
        buffered = len(self._buffer) - self._start
        if buffered < HEADER_LEN:
            return HEADER_LEN - buffered
        length: int = _LENGTH.unpack_from(self._buffer, self._start + 9)[0]
        return HEADER_LEN + length - buffered

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data``; return the frames it completes, in order.

        Raises:
            ProtocolError: ``InvalidMagic``, ``UnknownOpcode`` or ``PayloadTooLarge``.
        """
        fields = self.feed_fields(data)
        return list(map(_new_frame, repeat(Frame, len(fields)), fields))

    def feed_fields(self, data: bytes | bytearray | memoryview) -> list[FrameFields]:
        """As ``feed``, each frame as a plain ``(stream_id, opcode, payload)`` tuple: for a
        caller that unpacks each frame at once (the ``Connection``), no ``Frame`` is built."""
        if self._error is not None:
            raise self._error
        try:
            if self._buffer:
                self._buffer += data
                return self._feed_buffered()
            # Nothing pending (the usual case): decode straight from the caller's bytes (one
            # copy per payload, none for the stream) and keep only an incomplete tail.
            data = bytes(data)
            frames, position = self._decode(data, 0)
            self._consumed += position
            if position < len(data):
                self._buffer += memoryview(data)[position:]
            return frames
        except ProtocolError as error:
            self._error = error
            raise

    def _feed_buffered(self) -> list[FrameFields]:
        with memoryview(self._buffer) as view:  # slices of a view: one copy, into bytes
            frames, self._start = self._decode(view, self._start)
            if frames:
                frames = [
                    (stream_id, opcode, bytes(payload)) for stream_id, opcode, payload in frames
                ]
        if self._start >= _COMPACT_AT or self._start == len(self._buffer):
            del self._buffer[: self._start]  # empty again once every frame is out
            self._consumed += self._start
            self._start = 0
        return frames

    def _decode(self, data: bytes | memoryview, position: int) -> tuple[list[FrameFields], int]:
        # The loop does what any decoder must (unpack a header, slice a payload) plus one
        # opcode-table lookup, three comparisons and a tuple per frame: the 64-byte decode
        # figure and the small request/reply round trip both depend on it. (From a bytearray
        # the payloads are views: ``_feed_buffered`` makes them bytes.)
        end = len(data)
        last = end - HEADER_LEN
        unpack = _HEADER.unpack_from
        limit = self.max_payload
        table, expected_magic = _OPCODE_TABLE, MAGIC  # locals: no global lookups in the loop
        frames: list[Any] = []  # FrameFields, but from a view with memoryview payloads
        add = frames.append
        while position <= last:
            magic, stream_id, code, length = unpack(data, position)
            opcode = table[code]
            if magic != expected_magic or opcode is None or length > limit:
                _check_header(data, position, self._consumed, limit)
            stop = position + 13 + length
            if stop > end:
                break  # its header is checked: nothing unacceptable gets buffered
            add((stream_id, opcode, data[position + 13 : stop]))
            position = stop
        if last < position < end:  # a partial header: its magic checked as far as it came
            _check_magic_prefix(data, position, end, self._consumed)
        return frames, position


class Multiplexer:
    """Frames grouped by stream id, first in first out within each stream (the original sa3p's
    multiplexer). Streams are listed in the order they first received a frame; a stream whose
    queue empties is forgotten."""

    def __init__(self) -> None:
        self._queues: dict[int, deque[Frame]] = {}
        self._total = 0

    def push(self, frame: Frame) -> None:
        """Append ``frame`` to its stream's queue."""
        self._queues.setdefault(frame.stream_id, deque()).append(frame)
        self._total += 1

    def pop_next(self, stream_id: int) -> Frame | None:
        """Remove and return the oldest frame of ``stream_id``, or None if it has none."""
        queue = self._queues.get(stream_id)
        if queue is None:
            return None
        frame = queue.popleft()
        self._total -= 1
        if not queue:
            del self._queues[stream_id]
        return frame

    def peek_next(self, stream_id: int) -> Frame | None:
        """The oldest frame of ``stream_id`` without removing it, or None."""
        queue = self._queues.get(stream_id)
        return queue[0] if queue else None

    def discard(self, stream_id: int) -> int:
        """Drop every queued frame of ``stream_id``; return how many there were."""
        count = len(self._queues.pop(stream_id, ()))
        self._total -= count
        return count

    def stream_ids(self) -> list[int]:
        """Streams with queued frames."""
        return list(self._queues)

    def len_for_stream(self, stream_id: int) -> int:
        """How many frames ``stream_id`` has queued."""
        return len(self._queues.get(stream_id, ()))

    def __len__(self) -> int:
        return self._total
