"""UTF-8 decoding of the text outside raw bodies.

Text is decoded a window at a time (``decode_window``): one ``codecs.utf_8_decode`` call for
many tags and text runs, which are then sliced out of the ``str``. A window never ends inside a
character that more bytes may complete, so a multibyte character split across chunks decodes
exactly as if it had arrived whole (issue rule 3). Bytes that are not UTF-8 are kept in the
window as surrogate escapes, so that tags around them are still recognised, and become U+FFFD
and ``INVALID_UTF8`` problems (``TextDecoder``) when their text is emitted.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

from sa3p_parser._instructions import (
    Instruction,
    ParseProblem,
    Position,
    ProblemKind,
    trusted_text,
)

__all__ = ["TextDecoder", "TextWindow", "decode_segment", "decode_window", "unescape_invalid"]

_TRUNCATED = "unexpected end of data"
_utf_8_decode = codecs.utf_8_decode


def decode_segment(data: bytes, complete: bool) -> tuple[list[str | tuple[int, int]], int]:
    """Decode ``data`` as UTF-8.

    Args:
        data: the bytes of one text segment.
        complete: whether nothing of the same character can follow (the segment ends at a
            ``<`` or at the end of the stream).

    Returns:
        The pieces (decoded strings, and ``(start, end)`` byte ranges of invalid sequences, each
        to be shown as one U+FFFD) and how many bytes were consumed. An incomplete sequence at
        the end of an incomplete segment is not consumed.
    """
    try:
        return [data.decode()], len(data)
    except UnicodeDecodeError:
        pass
    pieces: list[str | tuple[int, int]] = []
    position = 0
    while position < len(data):
        try:
            pieces.append(data[position:].decode())
            return pieces, len(data)
        except UnicodeDecodeError as error:
            bad_start, bad_end = position + error.start, position + error.end
            pieces.append(data[position:bad_start].decode())
            if error.reason == _TRUNCATED and not complete:
                return pieces, bad_start
            pieces.append((bad_start, bad_end))
            position = bad_end
    return pieces, position


class TextDecoder:
    """Decodes text segments into ``Text`` values, reporting invalid UTF-8 once per run.

    A run is a stretch of invalid sequences with nothing between them, even across segments;
    at most ``max_reports`` problems are reported per stream.
    """

    __slots__ = ("_invalid_end", "_max_reports", "_reports")

    def __init__(self, max_reports: int) -> None:
        self._max_reports = max_reports
        self._reports = 0
        self._invalid_end = -1

    def decode(
        self,
        out: list[Instruction],
        data: bytes,
        offset: int,
        complete: bool,
        where: Callable[[int], Position],
    ) -> int:
        """Append ``data`` (at stream offset ``offset``) to ``out`` as text and problems;
        return how much was consumed.
        """
        pieces, consumed = decode_segment(data, complete)
        for piece in pieces:
            if isinstance(piece, str):
                if piece:
                    out.append(trusted_text(piece))
            else:
                self._invalid(out, offset + piece[0], offset + piece[1], where)
                out.append(trusted_text("\ufffd"))
        return consumed

    def _invalid(
        self, out: list[Instruction], start: int, stop: int, where: Callable[[int], Position]
    ) -> None:
        if start != self._invalid_end and self._reports < self._max_reports:
            self._reports += 1
            last = self._reports == self._max_reports
            message = "bytes that are not UTF-8 were replaced by U+FFFD"
            if last:
                message += "; further invalid UTF-8 is not reported"
            kind = ProblemKind.INVALID_UTF8
            out.append(ParseProblem(kind=kind, message=message, position=where(start)))
        self._invalid_end = stop


class TextWindow:
    """Text decoded from ``buf[start:stop]``, and the way back from characters to bytes.

    Attributes:
        text: the decoded text; bytes that are not UTF-8 appear as surrogate escapes.
        start: the buffer index of ``text[0]``.
        stop: the buffer index just past the decoded bytes.
        cut: whether the window ends before the buffer does (more text can be decoded).
        dirty: whether ``text`` holds surrogate escapes (else it is valid text).
        identity: whether each character came from one byte (``start + index`` is its index).
        counted: the index up to which positions were counted (see ``StreamPosition``).
    """

    __slots__ = (
        "_anchor",
        "_anchor_byte",
        "counted",
        "cut",
        "dirty",
        "identity",
        "start",
        "stop",
        "text",
    )

    def __init__(self, text: str, start: int, stop: int, *, cut: bool, dirty: bool) -> None:
        self.text = text
        self.start = start
        self.stop = stop
        self.cut = cut
        self.dirty = dirty
        self.counted = 0
        self.identity = stop - start == len(text)  # one byte per character
        self._anchor = 0
        self._anchor_byte = start

    def byte_index(self, index: int) -> int:
        """The buffer index of character ``index`` (cheapest for non-decreasing indexes)."""
        if self.identity:
            return self.start + index
        if index < self._anchor:
            self._anchor, self._anchor_byte = 0, self.start
        piece = self.text[self._anchor : index]
        self._anchor_byte += len(piece.encode("utf-8", "surrogateescape"))
        self._anchor = index
        return self._anchor_byte

    def byte_length(self, start: int, stop: int) -> int:
        """How many bytes ``text[start:stop]`` came from."""
        if self.identity:
            return stop - start
        return len(self.text[start:stop].encode("utf-8", "surrogateescape"))


def decode_window(
    buf: bytes | bytearray, start: int, end: int, size: int, final: bool
) -> TextWindow:
    """Decode up to ``size`` bytes of ``buf[start:end]``.

    A character cut by the window's end is left for the next window, and one cut by the end of
    the buffer for the next chunk, unless the stream is ``final``.
    """
    stop = min(end, start + size)
    data = buf[start:stop]
    last = final and stop == end
    try:
        text, used = _utf_8_decode(data, "strict", last)
        dirty = False
    except UnicodeDecodeError:
        text, used = _utf_8_decode(data, "surrogateescape", last)
        dirty = True
    return TextWindow(text, start, start + used, cut=stop < end, dirty=dirty)


def unescape_invalid(text: str) -> str:
    """``text`` with its surrogate escapes decoded as all text is: U+FFFD per invalid sequence."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
