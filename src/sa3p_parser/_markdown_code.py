"""Whether top-level text is inside markdown code, tracked as text streams past (issue rule 8).

The model's prose is CommonMark; a command it quotes in code must not run. Lines are read as
CommonMark reads them (spec 0.31, "Container blocks", "Appendix: A parsing strategy"), limited to
what decides where code is:

* **Containers.** A line first continues the open containers: a block quote by ``>`` (up to 3
  spaces before it, one space after it is part of the marker), a list item by at least its
  content indentation, or by being blank. What a line does not continue is closed, unless the
  line is a *lazy continuation* of an open paragraph (5.1). Then new block quotes and list items
  open: ``-``, ``*``, ``+`` or 1-9 digits and ``.``/``)`` followed by whitespace or the end of
  the line; the content indentation follows the marker (1-4 spaces; 5 or more count as 1). A
  list item interrupting a paragraph must not be empty and, if ordered, must start at 1; a
  thematic break (``***``, ``- - -``) is not a list item; an empty item ends at its second
  blank line.
* **Fences.** After its containers, a line whose first non-whitespace characters are at least 3
  tildes opens a fenced block at once; at least 3 backticks open one at the line's end, unless
  another backtick follows on that line (4.5: a backtick fence's info string has none; until the
  newline the run is an inline span opener, so the rest of the line is code either way). Any
  indentation is accepted (a deliberate departure from the 3-space limit: models indent fences
  under numbered steps). A fenced block lives in the containers it opened in: it ends at a line
  of its character, at least as long, followed only by whitespace, or **when one of its
  containers ends** (a fence line is never a lazy continuation), so a block in ``> ```` ends at
  the first line without ``>``, and one in a list item at the first non-blank line indented less
  than the item's content.
* **Inline code.** Outside fences, a run of N backticks opens a span that closes at a run of
  exactly N backticks, or at the end of the line (a span left open is literal in CommonMark,
  which needs the rest of the paragraph to tell; ending it at the line keeps the decision local).
* Not tracked: indented code blocks (their commands run), HTML blocks, setext headings; a line's
  markers and indentation are looked for in its first ``LINE_PREFIX_LIMIT`` characters; tabs
  advance to the next multiple of 4 columns. Markdown is tracked only in top-level text; the
  bytes of a command are cut out of it (the text after it continues the same line).

Every decision is taken when the character that settles it arrives (a line's structure at its
first character that cannot be a marker), never by looking ahead, so chunking changes nothing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["LINE_PREFIX_LIMIT", "CodeKind", "MarkdownCode"]

LINE_PREFIX_LIMIT = 1024
"""How many characters at a line's start may be container markers, indentation or a fence."""

_PREFIX_CHARACTERS = re.compile(r"[ \t\r>*+\-0-9.)#_`~]*")
_BLOCK_QUOTE = re.compile(r"(?: {0,3})>[ \t]?")
_LIST_MARKER = re.compile(r" {0,3}(?:([-*+])|([0-9]{1,9})[.)])(?=[ \t\r]|\Z)")
_BLANK = re.compile(r"[ \t\r]*")
_FENCE = re.compile(r"[ \t\r]*(`{3,}|~{3,})")
_CLOSING_FENCE = re.compile(r"[ \t\r]*(`{3,}|~{3,})[ \t\r]*")
_THEMATIC_BREAK = re.compile(r" {0,3}(?:(?:\*[ \t\r]*){3,}|(?:-[ \t\r]*){3,}|(?:_[ \t\r]*){3,})")
_HEADING = re.compile(r" {0,3}#{1,6}(?=[ \t\r]|\Z)")
_INLINE_EVENT = re.compile(r"`+|\n")
_BACKTICKS = re.compile(r"`*")
_NOT_BLANK = re.compile(r"[^ \t\r]")
_TAB_STOP = 4


class CodeKind(enum.Enum):
    """Whether a character is in markdown code, and which kind."""

    NONE = "none"
    SPAN = "span"
    FENCE = "fence"


class _Line(enum.Enum):
    """What the next characters of the current line are."""

    PREFIX = enum.auto()
    """The line's start: container markers, indentation, a fence (not settled yet)."""
    CODE = enum.auto()
    """The rest of a line inside a fenced block (or of a tilde fence's opening line)."""
    INLINE = enum.auto()
    """The rest of any other line: backtick runs open and close inline spans."""


@dataclass(slots=True)
class _Container:
    """An open block quote or list item."""

    quote: bool
    width: int = 0
    """A list item's content indentation, in columns."""
    empty: bool = False
    """A list item that began with a blank line and has no content yet."""


@dataclass(frozen=True, slots=True)
class _Fence:
    """An open (or pending) fenced block: its character, run length, and container depth."""

    char: str
    length: int
    depth: int


class _Cursor:
    """A position in a line's prefix, in characters and in columns (tab stops of 4)."""

    __slots__ = ("column", "index", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.column = 0

    def indentation(self) -> int:
        """Columns of whitespace from here."""
        blank = _BLANK.match(self.text, self.index).end()  # type: ignore[union-attr]
        return _columns_after(self.column, self.text[self.index : blank]) - self.column

    def skip_columns(self, columns: int) -> None:
        """Consume up to ``columns`` columns of whitespace (a tab that overshoots is consumed)."""
        target = self.column + columns
        while self.column < target and self.text[self.index : self.index + 1] in (" ", "\t"):
            self.advance(1)

    def advance(self, count: int) -> None:
        """Consume ``count`` characters."""
        self.column = _columns_after(self.column, self.text[self.index : self.index + count])
        self.index += count

    def marker(self, pattern: re.Pattern[str], line_ends: bool) -> re.Match[str] | None:
        """``pattern`` here, if what follows it is known (the line ends or a character that
        belongs to the prefix follows: a marker must be followed by whitespace or nothing).
        """
        found = pattern.match(self.text, self.index)
        if found is None or (found.end() == len(self.text) and not line_ends):
            return None
        return found

    def rest_is_blank(self) -> bool:
        return not _NOT_BLANK.search(self.text, self.index)


def _columns_after(column: int, text: str) -> int:
    """The column after ``text`` written from ``column`` (a tab goes to the next tab stop)."""
    if "\t" not in text:
        return column + len(text)
    for char in text:
        column = column + _TAB_STOP - column % _TAB_STOP if char == "\t" else column + 1
    return column


class MarkdownCode:
    """Incremental markdown code state of top-level text. Feed it every top-level character.

    Attributes:
        simple: no container, fence, span or backtick run is open and the line's start is
            settled: text without markdown characters and commands change nothing but the
            paragraph (``note_plain_text``).
    """

    __slots__ = (
        "_closing",
        "_containers",
        "_fence",
        "_line",
        "_paragraph",
        "_pending_fence",
        "_prefix",
        "_run",
        "_span",
        "simple",
    )

    def __init__(self) -> None:
        self._containers: list[_Container] = []
        self._paragraph = False
        self._fence: _Fence | None = None
        self._pending_fence: _Fence | None = None
        self._line = _Line.PREFIX
        self._prefix = ""
        self._span = 0
        self._run = 0
        self._closing = False
        self.simple = False

    # -- the interface ------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Advance over top-level text."""
        index, length = 0, len(text)
        while index < length:
            if self._line is _Line.PREFIX:
                index = self._collect_prefix(text, index)
            elif self._line is _Line.CODE:
                index = self._code_line(text, index)
            else:
                index = self._inline(text, index)
        self._update_simple()

    def note_plain_text(self, lines_started: bool, line_ends: bool) -> None:
        """While ``simple``, text without backticks or tildes and commands were read in which
        every line started with a character that starts no marker, indentation or fence (or
        with a command): such lines are paragraph lines.

        Args:
            lines_started: whether lines started in it (then a paragraph is open).
            line_ends: whether it ended with a newline (then a line's start is pending).
        """
        if lines_started:
            self._paragraph = True
        if line_ends:
            self._line = _Line.PREFIX
            self.simple = False

    def code_at_tag(self) -> CodeKind:
        """The code a ``<`` arriving now is in (settling a line start or a run it ends)."""
        if self.simple:
            return CodeKind.NONE
        self._settle()
        self._update_simple()
        if self._line is _Line.CODE:
            return CodeKind.FENCE
        return CodeKind.SPAN if self._span else CodeKind.NONE

    def note_command(self) -> None:
        """A command's bytes were cut out of the text here: they are content of the line."""
        if self.simple:
            return
        self._settle()
        self._closing = False
        self._update_simple()

    # -- line structure ------------------------------------------------------------------------

    def _settle(self) -> None:
        """A character that is neither a marker nor a backtick arrives."""
        if self._line is _Line.PREFIX:
            self._resolve_prefix(line_ends=False)
        if self._run:
            self._backtick_run(self._run)
            self._run = 0

    def _collect_prefix(self, text: str, index: int) -> int:
        stop = _PREFIX_CHARACTERS.match(text, index).end()  # type: ignore[union-attr]
        stop = min(stop, index + LINE_PREFIX_LIMIT - len(self._prefix))
        self._prefix += text[index:stop]
        if stop == len(text) and len(self._prefix) < LINE_PREFIX_LIMIT:
            return stop  # the prefix may go on in the next piece
        self._resolve_prefix(line_ends=stop < len(text) and text[stop] == "\n")
        return stop

    def _resolve_prefix(self, line_ends: bool) -> None:
        """Settle the structure of a line from its prefix (CommonMark's appendix, step 1-3)."""
        cursor = _Cursor(self._prefix)
        self._prefix = ""
        matched = self._continue_containers(cursor, line_ends)
        fence = self._fence
        if fence is not None and matched >= fence.depth:
            self._fence_line(cursor, fence)
            return
        self._fence = None  # a container of the block ended, and the block with it
        if matched < len(self._containers):
            if self._paragraph and not self._starts_block(cursor, line_ends):
                self._start_content(cursor, paragraph=True)  # a lazy continuation line
                return
            del self._containers[matched:]
            self._paragraph = False
        self._open_containers(cursor, line_ends)
        self._open_leaf(cursor, line_ends)

    def _continue_containers(self, cursor: _Cursor, line_ends: bool) -> int:
        """Consume the markers of the open containers this line continues; return how many."""
        for matched, container in enumerate(self._containers):
            if container.quote:
                found = _BLOCK_QUOTE.match(cursor.text, cursor.index)
                if found is None:
                    return matched
                cursor.advance(found.end() - cursor.index)
            elif line_ends and cursor.rest_is_blank():
                if container.empty:
                    return matched  # a list item can begin with at most one blank line
            elif cursor.indentation() >= container.width:
                cursor.skip_columns(container.width)
            else:
                return matched
        return len(self._containers)

    def _starts_block(self, cursor: _Cursor, line_ends: bool) -> bool:
        """Whether the rest of the line starts a block (so it is no lazy continuation)."""
        text, index = cursor.text, cursor.index
        if (line_ends and cursor.rest_is_blank()) or _BLOCK_QUOTE.match(text, index):
            return True
        if _FENCE.match(text, index) or cursor.marker(_HEADING, line_ends):
            return True
        if line_ends and _THEMATIC_BREAK.fullmatch(text, index):
            return True
        # A list item may interrupt only a paragraph of the last container the line continues
        # (spec 5.2); this line does not continue the paragraph's, so any list item starts.
        return cursor.marker(_LIST_MARKER, line_ends) is not None

    def _may_interrupt(self, item: re.Match[str], line_ends: bool) -> bool:
        """Whether a list marker may interrupt a paragraph: not empty, and ordered from 1."""
        empty = line_ends and not _NOT_BLANK.search(item.string, item.end())
        return not empty and (item.group(2) is None or int(item.group(2)) == 1)

    def _open_containers(self, cursor: _Cursor, line_ends: bool) -> None:
        while True:
            quote = _BLOCK_QUOTE.match(cursor.text, cursor.index)
            if quote is not None:
                cursor.advance(quote.end() - cursor.index)
                self._containers.append(_Container(quote=True))
                self._paragraph = False
                continue
            if not self._open_list_item(cursor, line_ends):
                return

    def _open_list_item(self, cursor: _Cursor, line_ends: bool) -> bool:
        text, index = cursor.text, cursor.index
        item = cursor.marker(_LIST_MARKER, line_ends)
        if item is None or (line_ends and _THEMATIC_BREAK.fullmatch(text, index)):
            return False
        if self._paragraph and not self._may_interrupt(item, line_ends):
            return False
        start = cursor.column
        cursor.advance(item.end() - index)
        marker_end = cursor.column
        empty = line_ends and cursor.rest_is_blank()
        spaces = cursor.indentation()
        if empty or spaces > 4:  # CommonMark 5.2: 5+ spaces start indented code
            spaces = 1
        cursor.skip_columns(spaces)
        width = marker_end - start + spaces
        self._containers.append(_Container(quote=False, width=width, empty=empty))
        self._paragraph = False
        return True

    def _open_leaf(self, cursor: _Cursor, line_ends: bool) -> None:
        text, index = cursor.text, cursor.index
        fence = _FENCE.match(text, index)
        if fence is not None:
            run = fence.group(1)
            opened = _Fence(run[0], len(run), len(self._containers))
            self._mark_content()
            self._paragraph = False
            if opened.char == "~":
                self._fence = opened
                self._line, self._closing = _Line.CODE, False
            else:
                self._pending_fence = opened
                self._line, self._span = _Line.INLINE, len(run)
            self._content(text[fence.end() :])
        elif line_ends and cursor.rest_is_blank():
            self._paragraph = False
            self._line = _Line.INLINE
        elif cursor.marker(_HEADING, line_ends) or (
            line_ends and _THEMATIC_BREAK.fullmatch(text, index)
        ):
            self._mark_content()
            self._paragraph = False
            self._start_content(cursor, paragraph=False)
        else:
            self._mark_content()
            self._start_content(cursor, paragraph=True)

    def _start_content(self, cursor: _Cursor, paragraph: bool) -> None:
        self._paragraph = paragraph
        self._line = _Line.INLINE
        self._content(cursor.text[cursor.index :])

    def _fence_line(self, cursor: _Cursor, fence: _Fence) -> None:
        """A line inside an open fenced block; it closes the block if it is a closing fence."""
        rest = cursor.text[cursor.index :]
        closing = _CLOSING_FENCE.fullmatch(rest)
        run = closing.group(1) if closing is not None else ""
        self._line = _Line.CODE
        self._closing = run[:1] == fence.char and len(run) >= fence.length

    def _mark_content(self) -> None:
        if self._containers and not self._containers[-1].quote:
            self._containers[-1].empty = False

    def _content(self, text: str) -> None:
        """Feed what followed the structure in a line's prefix (it holds no newline)."""
        index = 0
        while index < len(text):
            if self._line is _Line.CODE:
                index = self._code_line(text, index)
            else:
                index = self._inline(text, index)

    # -- the rest of a line --------------------------------------------------------------------

    def _code_line(self, text: str, index: int) -> int:
        newline = text.find("\n", index)
        stop = newline if newline != -1 else len(text)
        if self._closing and _NOT_BLANK.search(text, index, stop):
            self._closing = False
        if newline == -1:
            return len(text)
        self._end_line()
        return newline + 1

    def _inline(self, text: str, index: int) -> int:
        if self._run:  # a run of backticks that the previous piece ended in
            stop = _BACKTICKS.match(text, index).end()  # type: ignore[union-attr]
            self._run += stop - index
            if stop < len(text):
                self._backtick_run(self._run)
                self._run = 0
            return stop
        event = _INLINE_EVENT.search(text, index)
        if event is None:
            return len(text)
        if text[event.start()] == "\n":
            self._end_line()
        elif event.end() == len(text):
            self._run = event.end() - event.start()  # it may go on in the next piece
        else:
            self._backtick_run(event.end() - event.start())
        return event.end()

    def _backtick_run(self, length: int) -> None:
        self._pending_fence = None  # CommonMark 4.5: a backtick fence's info string has none
        if self._span == 0:
            self._span = length
        elif self._span == length:
            self._span = 0

    def _end_line(self) -> None:
        if self._line is _Line.CODE and self._closing:
            self._fence = None
        if self._pending_fence is not None:
            self._fence, self._pending_fence = self._pending_fence, None
        self._span = self._run = 0
        self._closing = False
        self._line = _Line.PREFIX

    def _update_simple(self) -> None:
        self.simple = (
            self._line is _Line.INLINE
            and not self._containers
            and not self._span
            and not self._run
            and self._fence is None
            and self._pending_fence is None
        )
