"""Tracks whether top-level text is inside markdown code, as bytes stream past (issue rule 8).

The rules, chosen to be decidable without lookahead so that chunking never changes a decision:

* A fenced code block opens on a line whose first non-whitespace characters (any indentation of
  spaces and tabs, so that a fence nested in a list item counts) are a run of at least three
  tildes, or at least three backticks with no other backtick later on that line (CommonMark
  4.5: a backtick fence's info string cannot contain backticks; such a line is inline code).
  It closes on a line whose first non-whitespace characters are a run of the same character
  at least as long; that closing line is still code up to its newline.
* Outside fences, a run of backticks opens an inline code span that closes at a run of the same
  length, or at the end of the line.
* Whether a backtick run at a line's start opens a fence is known only at the newline, but the
  rest of that line is code either way: until then the run is an inline span opener (a command
  after it is quoted as in a span, under every policy), and it becomes a fence at the newline
  unless another backtick run came first. Nothing is held back.
* Indented code blocks are not tracked: their commands are live.
"""

from __future__ import annotations

import enum
import re

__all__ = ["CodeKind", "MarkdownTracker"]

_BACKTICK = 0x60
_TILDE = 0x7E
_NEWLINE = 0x0A
_MID_LINE = re.compile(rb"`+|\n")
_BACKTICKS = re.compile(rb"`*")
_FENCE_CHARS = re.compile(rb"[`~]")
_INDENTATION = re.compile(rb"[ \t]*")


def _match_end(pattern: re.Pattern[bytes], data: bytearray, start: int, end: int) -> int:
    match = pattern.match(data, start, end)
    return match.end() if match is not None else start


class CodeKind(enum.Enum):
    """Whether a byte is in markdown code, and which kind."""

    NONE = "none"
    SPAN = "span"
    FENCE = "fence"


class MarkdownTracker:
    """Incremental markdown code state of top-level text. Feed it every top-level text byte."""

    __slots__ = (
        "_at_line_start",
        "_closing_line",
        "_fence_char",
        "_fence_length",
        "_pending_fence",
        "_run_char",
        "_run_length",
        "_span_length",
    )

    def __init__(self) -> None:
        self._at_line_start = True
        self._run_char = 0
        self._run_length = 0
        self._fence_char = 0
        self._fence_length = 0
        self._closing_line = False
        self._span_length = 0
        self._pending_fence = 0  # a line-start backtick run that opens a fence at the newline

    def code_at_next_byte(self) -> CodeKind:
        """What code the next byte is in, given that it is not a backtick or tilde (a ``<``)."""
        if self._at_line_start or self._run_length:
            self._settle()
        if self._fence_char:
            return CodeKind.FENCE
        return CodeKind.SPAN if self._span_length else CodeKind.NONE

    def note_command(self) -> None:
        """A command's tags and body were cut out of the text here: the line is not at its start."""
        self._settle()
        self._at_line_start = False

    def is_plain(self) -> bool:
        """Whether no fence, span or run is pending (``skip_plain`` would succeed)."""
        return not (self._fence_char or self._span_length or self._run_length or self._closing_line)

    def skip_plain(self) -> bool:
        """Advance over text without backticks or tildes followed by a command tag, if no fence,
        span or run is pending (then neither the text nor the tag can be quoted).

        Returns ``False`` and changes nothing otherwise. Same effect as ``feed`` of that text,
        ``code_at_next_byte()`` (which is ``NONE``), then ``note_command()``: the line is then
        not at its start, and indentation only matters at a line's start.
        """
        if self._fence_char or self._span_length or self._run_length or self._closing_line:
            return False
        self._at_line_start = False
        return True

    def feed(self, data: bytearray, start: int, end: int) -> None:
        """Advance over ``data[start:end]``."""
        if not self._run_length and not _FENCE_CHARS.search(data, start, end):
            self._feed_plain(data, start, end)
            return
        position = start
        while position < end:
            if self._at_line_start:
                position = self._line_prefix(data, position, end)
            elif self._run_length:
                position = self._continue_run(data, position, end)
            elif self._fence_char:
                newline = data.find(b"\n", position, end)
                if newline == -1:
                    return
                position = newline + 1
                self._new_line()
            else:
                position = self._mid_line(data, position, end)

    def _feed_plain(self, data: bytearray, start: int, end: int) -> None:
        """The same as ``feed`` for bytes without backticks or tildes, in one step.

        Without them no run, span or fence can start; only newlines and indentation matter.
        """
        newline = data.rfind(b"\n", start, end)
        if newline != -1:
            if self._at_line_start:
                self._end_prefix()
            self._new_line()
            start = newline + 1
        if self._at_line_start and _match_end(_INDENTATION, data, start, end) != end:
            self._end_prefix()

    def _line_prefix(self, data: bytearray, position: int, end: int) -> int:
        if not self._run_length:  # any indentation, in one step
            position = _match_end(_INDENTATION, data, position, end)
        while position < end:
            char = data[position]
            if char in (_BACKTICK, _TILDE) and self._run_char in (0, char):
                self._run_char = char
                self._run_length += 1
            else:  # indentation was skipped above; it also ends a run
                self._end_prefix()
                return position
            position += 1
        return position

    def _end_prefix(self) -> None:
        self._at_line_start = False
        char, length = self._run_char, self._run_length
        self._run_char = self._run_length = 0
        if length >= 3 and self._fence_char == 0 and char == _BACKTICK:
            self._backtick_run(length)
            self._pending_fence = length
        elif length >= 3 and self._fence_char == 0:
            self._fence_char, self._fence_length = char, length
        elif length >= 3 and length >= self._fence_length and char == self._fence_char:
            self._closing_line = True
        elif length and char == _BACKTICK and self._fence_char == 0:
            self._backtick_run(length)

    def _mid_line(self, data: bytearray, position: int, end: int) -> int:
        match = _MID_LINE.search(data, position, end)
        if match is None:
            return end
        if data[match.start()] == _NEWLINE:
            self._new_line()
            return match.end()
        self._run_char = _BACKTICK
        self._run_length = match.end() - match.start()
        return match.end()

    def _continue_run(self, data: bytearray, position: int, end: int) -> int:
        stop = _match_end(_BACKTICKS, data, position, end)
        self._run_length += stop - position
        if stop < end:
            self._settle()
        return stop

    def _settle(self) -> None:
        """The next byte ends any pending run (it is ``<`` or another non-run byte)."""
        if self._at_line_start:
            self._end_prefix()
        elif self._run_length:
            length = self._run_length
            self._run_char = self._run_length = 0
            self._backtick_run(length)

    def _backtick_run(self, length: int) -> None:
        self._pending_fence = 0  # CommonMark 4.5: a backtick fence's info string has none
        if self._span_length == 0:
            self._span_length = length
        elif self._span_length == length:
            self._span_length = 0

    def _new_line(self) -> None:
        self._span_length = 0
        if self._closing_line:
            self._fence_char = self._fence_length = 0
            self._closing_line = False
        elif self._pending_fence:
            self._fence_char, self._fence_length = _BACKTICK, self._pending_fence
            self._pending_fence = 0
        self._at_line_start = True
