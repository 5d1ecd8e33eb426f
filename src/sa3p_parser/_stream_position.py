"""Line and column bookkeeping: stream offsets become ``Position`` values.

Every byte of the stream is counted once, raw bodies included (the parser never keeps them), so
that later positions are right. Lines are counted at each newline byte; columns count characters
(UTF-8 bytes that are not continuation bytes) and restart at 1 after a newline. Bytes are counted
with ``bytes.count``/``rfind``; decoded text (``count_text``) with the same methods of ``str``,
whose characters are the same units.
"""

from __future__ import annotations

from sa3p_parser._instructions import Position, trusted_position

__all__ = ["StreamPosition", "count_newlines"]

_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
_SHORT = 2048
DEFERRED_BYTES = 1 << 16
DEFERRED_CHUNK_SIZE = 4096
"""``StreamPosition.defer`` holds chunks of at most 4 KiB, at most 64 KiB of them, uncounted."""
_SPARSEST_DENSITY_SHIFT = 4


def count_newlines(data: bytes) -> int:
    """``data.count(b"\\n")``, faster for the long lines of code and prose.

    ``bytes.count`` of one byte is a scalar loop (about 1.5-2.5 GB/s here), while
    ``bytes.replace`` finds each newline with memchr and copies the rest with memcpy, several times
    faster while lines are long. Dense newlines, where a memchr call per newline loses, are
    recognised by a cap (one newline per 16 bytes) and counted by ``bytes.count`` after all, so
    the cost is at most about twice that of ``bytes.count``.
    """
    size = len(data)
    if size < _SHORT:
        return data.count(b"\n")
    cap = size >> _SPARSEST_DENSITY_SHIFT
    removed = size - len(data.replace(b"\n", b"", cap))
    return removed if removed < cap else data.count(b"\n")


def _characters(data: bytes | bytearray) -> int:
    """The number of UTF-8 characters (bytes that do not continue a character) in ``data``."""
    if data.isascii():
        return len(data)
    return len(data.translate(None, _CONTINUATION_BYTES))


class StreamPosition:
    """The line, column and stream offset counted so far, advanced in place.

    Offsets must be asked for in non-decreasing order, and before their bytes are dropped from the
    buffer (the parser counts up to its consumed position before it compacts).

    Attributes:
        line: the 1-based line of stream offset ``offset``.
        column: the 1-based column of stream offset ``offset``.
        offset: how many bytes of the stream have been counted.
    """

    __slots__ = ("_deferred", "_deferred_size", "column", "line", "offset")

    def __init__(self) -> None:
        self.line = 1
        self.column = 1
        self.offset = 0
        self._deferred: list[bytes] = []
        self._deferred_size = 0

    def defer(self, data: bytes) -> None:
        """Count ``data``, the bytes that directly follow those counted so far, when a position
        is next needed: small chunks are counted together, one call for many.

        Chunks of at most ``DEFERRED_CHUNK_SIZE`` bytes are held, at most ``DEFERRED_BYTES`` of
        them (by reference: they are the chunks the parser passed on), so memory stays bounded.
        """
        size = len(data)
        if size > DEFERRED_CHUNK_SIZE:
            self._count_deferred()
            self._count(data)
            return
        self._deferred.append(data)
        self._deferred_size += size
        if self._deferred_size >= DEFERRED_BYTES:
            self._count_deferred()

    def _count_deferred(self) -> None:
        deferred = self._deferred
        if deferred:
            data = deferred[0] if len(deferred) == 1 else b"".join(deferred)
            deferred.clear()
            self._deferred_size = 0
            self._count(data)

    def _count(self, data: bytes) -> None:
        self.offset += len(data)
        newlines = count_newlines(data)
        if newlines:
            self.line += newlines
            last = data.rfind(b"\n")
            self.column = 1 + _characters(data[last + 1 :])
        else:
            self.column += _characters(data)

    def skip(self, buf: bytes | bytearray, base: int, offset: int) -> None:
        """Count the bytes up to stream offset ``offset``; ``buf[0]`` is at stream offset ``base``.

        An ``offset`` not beyond what was counted changes nothing.
        """
        self._count_deferred()
        start, stop = self.offset - base, offset - base
        if stop <= start:
            return
        if stop - start < _SHORT:
            newlines = buf.count(b"\n", start, stop)
        else:
            newlines = count_newlines(bytes(buf[start:stop]))
        if newlines:
            self.line += newlines
            start = buf.rfind(b"\n", start, stop) + 1
            self.column = 1
        self.column += _characters(buf[start:stop])
        self.offset = offset

    def at(self, buf: bytes | bytearray, base: int, offset: int) -> Position:
        """The position of stream offset ``offset``; ``buf[0]`` is at stream offset ``base``."""
        self.skip(buf, base, offset)
        return trusted_position(self.line, self.column, offset)

    def at_text(self, text: str, start: int, stop: int, offset: int) -> Position:
        """The position of ``text[stop]`` at stream offset ``offset``: ``text[start:stop]`` is
        valid text that begins where counting stopped (its characters are the column units).
        """
        newlines = text.count("\n", start, stop)
        if newlines:
            self.line += newlines
            self.column = stop - text.rfind("\n", start, stop)
        else:
            self.column += stop - start
        self.offset = offset
        return trusted_position(self.line, self.column, offset)
