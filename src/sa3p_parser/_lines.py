"""Line and column bookkeeping, with an optional C accelerator.

Every byte of the stream is counted once, including raw bodies the parser never keeps, so that
later positions are right. Counting newlines is therefore the floor of the raw-body path:
CPython's ``bytes.count(b"\\n")`` is a scalar loop (about 2 GB/s), so the counters live in
``LineState`` from the optional C extension ``sa3p_parser._speedups`` when it was built (a
vectorised loop, over 20 GB/s, and one call per chunk). The pure-Python ``LineStatePython``
gives exactly the same results (see ``_accel`` for the choice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sa3p_parser._accel import c_attribute
from sa3p_parser._fast import new_position
from sa3p_parser._instructions import Position

__all__ = ["LineCounter", "LineStatePython"]

_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


class LineStatePython:
    """The line, column and stream offset counted so far, advanced in place.

    Lines are counted at each newline byte; columns count UTF-8 characters (bytes that are not
    continuation bytes) and restart at 1 after a newline.

    Attributes:
        line: the 1-based line of stream offset ``offset``.
        column: the 1-based column of stream offset ``offset``.
        offset: how many bytes of the stream have been counted.
    """

    __slots__ = ("column", "line", "offset")

    def __init__(self) -> None:
        self.line = 1
        self.column = 1
        self.offset = 0

    def skip_all(self, data: bytes | bytearray) -> None:
        """Count all of ``data``, the bytes that directly follow those counted so far."""
        self._count(data, 0, len(data))
        self.offset += len(data)

    def skip(self, buf: bytes | bytearray, base: int, offset: int) -> None:
        """Count the bytes up to stream offset ``offset``; ``buf[0]`` is at stream offset ``base``.

        An ``offset`` not beyond what was counted changes nothing; bounds outside ``buf`` are
        clamped, as in slicing.
        """
        if offset <= self.offset:
            return
        start = max(0, min(self.offset - base, len(buf)))
        stop = max(0, min(offset - base, len(buf)))
        if stop > start:
            self._count(buf, start, stop)
        self.offset = offset

    def _count(self, data: bytes | bytearray, start: int, stop: int) -> None:
        newlines = data.count(b"\n", start, stop)
        if newlines:
            self.line += newlines
            self.column = 1
            start = data.rfind(b"\n", start, stop) + 1
        tail = data[start:stop]
        if tail.isascii():
            self.column += stop - start
        else:
            self.column += len(tail.translate(None, _CONTINUATION_BYTES))


if TYPE_CHECKING:
    _LineStateBase = LineStatePython
else:
    _LineStateBase = c_attribute("LineState") or LineStatePython


class LineCounter(_LineStateBase):
    """Turns stream byte offsets into ``Position`` values, counting each byte once.

    Offsets must be asked for in non-decreasing order, and before the bytes are dropped from the
    buffer (the parser advances the counter before it compacts).
    """

    __slots__ = ()

    def advance(self, buf: bytes | bytearray, base: int, offset: int) -> Position:
        """The position of stream offset ``offset``; ``buf[0]`` is at stream offset ``base``."""
        self.skip(buf, base, offset)
        return new_position(self.line, self.column, max(offset, 0))
