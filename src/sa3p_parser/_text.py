"""UTF-8 decoding of text segments.

Text outside raw bodies is decoded segment by segment; a segment that may be followed by more
bytes of the same character keeps its incomplete tail in the buffer, so a multibyte character
split across chunks decodes exactly as if it had arrived whole (issue rule 3).
"""

from __future__ import annotations

from collections.abc import Callable

from sa3p_parser._instructions import Instruction, ParseProblem, Position, ProblemKind, Text

__all__ = ["TextDecoder", "decode_segment"]

_TRUNCATED = "unexpected end of data"


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

    __slots__ = ("_invalid_end", "_max_reports", "_out", "_reports")

    def __init__(self, out: list[Instruction], max_reports: int) -> None:
        self._out = out
        self._max_reports = max_reports
        self._reports = 0
        self._invalid_end = -1

    def decode(
        self, data: bytes, offset: int, complete: bool, where: Callable[[int], Position]
    ) -> int:
        """Append ``data`` (at stream offset ``offset``) as text; return how much was consumed."""
        pieces, consumed = decode_segment(data, complete)
        for piece in pieces:
            if isinstance(piece, str):
                if piece:
                    self._out.append(Text(piece))
            else:
                self._invalid(offset + piece[0], offset + piece[1], where)
                self._out.append(Text("\ufffd"))
        return consumed

    def _invalid(self, start: int, stop: int, where: Callable[[int], Position]) -> None:
        if start != self._invalid_end and self._reports < self._max_reports:
            self._reports += 1
            last = self._reports == self._max_reports
            message = "bytes that are not UTF-8 were replaced by U+FFFD"
            if last:
                message += "; further invalid UTF-8 is not reported"
            kind = ProblemKind.INVALID_UTF8
            self._out.append(ParseProblem(kind=kind, message=message, position=where(start)))
        self._invalid_end = stop
