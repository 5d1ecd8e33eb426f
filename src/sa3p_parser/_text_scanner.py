"""``TextScanner``: the step of the text states (top-level prose, command and container bodies).

Text is decoded a window at a time (``decode_window``) and read with the tag grammar's patterns.
Every ``<`` is decided in one place, ``_at_angle``. The common case, text followed by a complete,
well-formed start tag that starts something, is read one ``re`` match per tag (``_run_tags``):
it takes a match as it is only where markdown decides nothing in the text (no backtick or tilde,
no line starting with a possible marker), and hands every other tag, untouched, to
``_at_angle``, so both read the same grammar and decide alike; chunking and windows never change
a decision (issue rule 3).

A ``<`` whose tag is cut by the end of the buffer is waited for, up to ``max_tag_length``;
while waiting, only the new bytes are searched for what could end it (STYLE habit 5).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from sa3p_parser._instructions import (
    Position,
    ProblemKind,
    trusted_position,
    trusted_start_tag_at,
    trusted_text,
)
from sa3p_parser._markdown_code import CodeKind
from sa3p_parser._parser_config import MarkdownPolicy, ParserConfig
from sa3p_parser._parser_core import ParserCore, tag_roles
from sa3p_parser._parser_states import TEXT_STATES, BodyKind, State, TagRole
from sa3p_parser._tag_grammar import (
    ATTRIBUTE_GROUPS,
    CLOSE_TAG_TAIL,
    START_TAG,
    START_TAG_GROUPS,
    TAG_OPENING,
    Extent,
    attributes_of,
    malformed_reason,
    start_tag_token,
    tag_extent,
)
from sa3p_parser._utf8_text import TextWindow, decode_window, unescape_invalid

__all__ = ["TOKEN", "TextScanner"]

_WINDOW_MIN = 4096
_WINDOW_MAX = 1 << 18
_CDATA_OPEN = "<![CDATA["
_OPEN_FOLLOWERS = frozenset(" \t\r\n/>")
_CLOSE_FOLLOWERS = frozenset(" \t\r\n>")
_SURROGATE = re.compile("[\udc80-\udcff]")
_TAG_END_BYTES = re.compile(rb"[<>]")
_NOT_BLANK_BYTES = re.compile(rb"[^ \t\r\n]")
TOKEN = start_tag_token("[^<]*+")
"""Text up to a ``<`` (one memchr-like loop), then a complete start tag, if there is one."""
_LINE_MARKS = frozenset(" \t\r>*+-0123456789#_`~\n")
"""What a line may start with for markdown to decide something (a marker, indentation, a
fence, a heading, a thematic break, a blank line); any other line is plain paragraph text."""
_LINE_MARK = re.compile("\n[" + re.escape("".join(sorted(_LINE_MARKS))) + "]")


def _starting(roles: dict[str, TagRole]) -> frozenset[str | None]:
    """The names whose start tags start something (the one-match path takes only those)."""
    return frozenset(name for name, role in roles.items() if role is TagRole.START)


def _next_mark(text: str, start: int) -> int:
    """Where the next backtick or tilde is (``len(text)`` if nowhere): markdown code may
    start there. Two memchr scans.
    """
    backtick, tilde = text.find("`", start), text.find("~", start)
    if backtick == -1:
        return tilde if tilde != -1 else len(text)
    return backtick if tilde == -1 or backtick < tilde else tilde


class _Outcome(enum.Enum):
    """How a look at the text ended."""

    CONTINUE = enum.auto()
    """Decided; go on from the returned index."""
    CHANGED = enum.auto()
    """The state changed at the returned index."""
    WAIT = enum.auto()
    """What starts at the returned index is cut by the end of the buffer: wait for bytes."""
    REWINDOW = enum.auto()
    """What starts at the returned index is cut by the end of the window: decode more."""
    END = enum.auto()
    """The window's text is all taken."""


@dataclass(slots=True)
class _Wait:
    """A tag cut by the end of the buffer: where its ``<`` is (a stream offset), how far the
    bytes after it were searched, which byte could end the wait, and after how many bytes
    from the ``<`` the tag is decided anyway.
    """

    offset: int
    searched: int
    wake: re.Pattern[bytes]
    bound: int


class TextScanner(ParserCore):
    """The parser with the step of its text states."""

    def __init__(self, config: ParserConfig | None, write_tag: str | None) -> None:
        super().__init__(config, write_tag)
        self._longest = self._config.longest_name
        self._quote_fences = self._config.markdown is MarkdownPolicy.QUOTE_CODE
        self._window_size = _WINDOW_MIN
        self._wait: _Wait | None = None
        self._roles_by_state: dict[tuple[State, str | None], dict[str, TagRole]] = {}
        self._roles = self._roles_of(State.TEXT)
        self._starts = _starting(self._roles)

    def _enter(self, state: State) -> None:
        super()._enter(state)
        if state in TEXT_STATES:
            self._roles = self._roles_of(state)
            self._starts = _starting(self._roles)
            self._window_size = _WINDOW_MIN

    def _roles_of(self, state: State) -> dict[str, TagRole]:
        container = self._stack[-1].tag.name if state is State.CONTAINER_BODY else None
        key = (state, container)
        roles = self._roles_by_state.get(key)
        if roles is None:
            roles = self._roles_by_state[key] = tag_roles(self._config, state, container)
        return roles

    # -- the step -------------------------------------------------------------------------------

    def _step_text(self) -> bool:
        buf = self._buf
        if self._pos >= len(buf) or self._still_waiting():
            return False
        window = decode_window(buf, self._pos, len(buf), self._window_size, self._final)
        if window.stop == window.start:
            return False  # an incomplete character at the end: wait for the rest of it
        self._lines.skip(buf, self._base, self._base + window.start)
        index, outcome = self._scan(window)
        if outcome is _Outcome.END:
            self._pos = window.stop
            if window.cut:
                self._window_size = min(2 * self._window_size, _WINDOW_MAX)
            return window.cut
        self._pos = window.byte_index(index)
        if outcome is _Outcome.REWINDOW:  # big enough for any tag after the ``<`` at ``_pos``
            self._window_size = max(2 * self._window_size, self._limit + 64)
        return outcome is not _Outcome.WAIT

    def _scan(self, window: TextWindow) -> tuple[int, _Outcome]:
        state, index, outcome = self._state, 0, _Outcome.CONTINUE
        markdown = self._markdown
        while outcome is _Outcome.CONTINUE:
            if not window.dirty and (
                state is not State.TEXT or markdown is None or markdown.simple
            ):
                index = self._run_tags(window, index)
                if self._state is not state:
                    return index, _Outcome.CHANGED
            index, outcome = self._text_then_angle(window, index)
        return index, outcome

    def _still_waiting(self) -> bool:
        """Whether the tag waited for is still undecided: no byte that could end it arrived."""
        wait = self._wait
        if wait is None:
            return False
        end = len(self._buf)
        if (
            not self._final
            and wait.offset == self._base + self._pos
            and end - self._pos < wait.bound
            and wait.wake.search(self._buf, wait.searched - self._base) is None
        ):
            wait.searched = self._base + end
            return True
        self._wait = None
        return False

    # -- text -----------------------------------------------------------------------------------

    def _run_tags(self, window: TextWindow, index: int) -> int:
        """Text and the complete start tags that start something, one ``re`` match each.

        Returns the index where ``_at_angle`` must decide (all before it is emitted), or the
        index after an opened body (the state changed). Runs only where markdown decides
        nothing: the tracker is ``simple``, and the text has no backtick or tilde (found by
        memchr) and no line that starts with a character that may be a marker.

        One function on purpose, longer than the others: it runs once per tag, and each call
        it would make instead costs about 3% of the tag-dense figure (measured).
        """
        text, tags, starts, limit, out = (
            window.text,
            self._tags,
            self._starts,
            self._limit,
            self._out,
        )
        lines, counted, base, long_tag = self._lines, window.counted, self._base, self._limit >> 2
        line, column, at = lines.line, lines.column, lines.offset
        offset = base + window.start if window.identity else -1
        tracking = self._state is State.TEXT and self._markdown is not None
        mark = _next_mark(text, index) if tracking else len(text)
        ampersands, lines_started, resume = "&" in text, False, index
        for match in TOKEN.finditer(text, index):
            groups = match.groups()
            angle = match.end(1)
            last = text.rfind("\n", counted, angle)  # for the position and the line starts
            earlier = text.rfind("\n", counted, last) if last != -1 else -1
            if resume < angle:
                if tracking:
                    if mark < angle:  # a backtick or tilde before the tag: in its text, or stale
                        mark = _next_mark(text, resume) if mark < resume else mark
                        if mark < angle:
                            break
                    if last >= resume and (
                        text[last + 1 : last + 2] in _LINE_MARKS
                        or (earlier >= resume and _LINE_MARK.search(text, resume, last + 1))
                    ):
                        break
                    lines_started = lines_started or last >= resume
                out.append(trusted_text(groups[0]))
                resume = angle
            name, stop = groups[1], match.end()
            if name not in starts:
                break
            if stop - angle > long_tag and window.byte_length(angle, stop) > limit:
                break
            entities = ampersands and text.find("&", angle, stop) != -1
            attributes = attributes_of(groups, ATTRIBUTE_GROUPS + 1, entities)
            if attributes is None:
                break
            if last == -1:
                column += angle - counted
            else:  # most texts hold one newline: two memrchr scans, no count
                line += 1 if earlier == -1 else text.count("\n", counted, last) + 1
                column = angle - last
            at = offset + angle if offset >= 0 else base + window.byte_index(angle)
            counted, resume = angle, stop
            if groups[-1]:  # self-closing: the common case stays in this loop
                out.append(trusted_start_tag_at(name, attributes, line, column, at))
                out.append(tags[name].end)
                continue
            self._leave_run(window, (counted, line, column, at), lines_started, resume)
            where = trusted_position(line, column, at)
            self._begin(tags[name], attributes, where, closed=False)
            return stop
        self._leave_run(window, (counted, line, column, at), lines_started, resume)
        return resume

    def _leave_run(
        self,
        window: TextWindow,
        counts: tuple[int, int, int, int],
        lines_started: bool,
        resume: int,
    ) -> None:
        """Keep the counts of a run of ``_run_tags`` (character index, line, column, offset of
        its last tag), and what its text did to markdown: opened a paragraph if lines started
        in it, and left a line's start pending if it ended with a newline.
        """
        window.counted, self._lines.line, self._lines.column, self._lines.offset = counts
        if self._markdown is not None and self._state is State.TEXT:
            self._markdown.note_plain_text(
                lines_started, resume > 0 and window.text[resume - 1] == "\n"
            )

    def _text_then_angle(self, window: TextWindow, index: int) -> tuple[int, _Outcome]:
        """Emit the text up to the next ``<`` and decide what the ``<`` starts."""
        angle = window.text.find("<", index)
        if angle == -1:
            self._emit_text(window, index, len(window.text))
            return len(window.text), _Outcome.END
        self._emit_text(window, index, angle)
        return self._at_angle(window, angle)

    def _emit_text(self, window: TextWindow, start: int, stop: int) -> None:
        if start >= stop:
            return
        piece = window.text[start:stop]
        if window.dirty and _SURROGATE.search(piece):
            data = piece.encode("utf-8", "surrogateescape")
            offset = self._base + window.byte_index(start)
            self._decoder.decode(self._out, data, offset, True, self._position_at)
        else:
            self._out.append(trusted_text(piece))
        if self._state is State.TEXT and self._markdown is not None:
            self._markdown.feed(piece)

    def _text_to(self, window: TextWindow, start: int, stop: int) -> tuple[int, _Outcome]:
        self._emit_text(window, start, stop)
        return stop, _Outcome.CONTINUE

    def _window_position(self, window: TextWindow, index: int) -> Position:
        """The position of ``text[index]``; valid text is counted in characters."""
        if window.dirty:
            return self._position(window.byte_index(index))
        offset = self._base + window.byte_index(index)
        position = self._lines.at_text(window.text, window.counted, index, offset)
        window.counted = index
        return position

    # -- what a ``<`` starts ----------------------------------------------------------------------

    def _at_angle(self, window: TextWindow, angle: int) -> tuple[int, _Outcome]:
        """Decide what the ``<`` at ``angle`` starts: the parser's one decision about tags."""
        text = window.text
        if self._state is State.CONTAINER_BODY and text.startswith("<!", angle):
            decided = self._cdata_section(window, angle)
            if decided is not None:
                return decided
        opening = TAG_OPENING.match(text, angle)
        if opening is None:
            return self._lone_angle(window, angle)
        closing, name = opening.groups()
        name_end = opening.end()
        if name_end == len(text):
            return self._cut_name(window, angle, name)
        if closing and text[name_end] in _CLOSE_FOLLOWERS:
            return self._close_tag(window, angle, name, name_end)
        if not closing and text[name_end] in _OPEN_FOLLOWERS:
            return self._open_tag(window, angle, name, name_end)
        return self._text_to(window, angle, angle + 1)

    def _needs_more(self, window: TextWindow) -> _Outcome | None:
        """What to do about something cut by the end of the text; ``None``: decide now."""
        if window.cut:
            return _Outcome.REWINDOW
        return None if self._final else _Outcome.WAIT

    def _lone_angle(self, window: TextWindow, angle: int) -> tuple[int, _Outcome]:
        rest = window.text[angle:]
        more = self._needs_more(window) if rest in ("<", "</") else None
        return (angle, more) if more is not None else self._text_to(window, angle, angle + 1)

    def _cut_name(self, window: TextWindow, angle: int, name: str) -> tuple[int, _Outcome]:
        more = self._needs_more(window) if len(name) <= self._longest else None
        return (angle, more) if more is not None else self._text_to(window, angle, angle + 1)

    def _cdata_section(self, window: TextWindow, angle: int) -> tuple[int, _Outcome] | None:
        """``<![CDATA[`` in a container's text opens a section whose content is text."""
        text = window.text
        if text.startswith(_CDATA_OPEN, angle):
            self._enter(State.CONTAINER_CDATA)
            return angle + len(_CDATA_OPEN), _Outcome.CHANGED
        if _CDATA_OPEN.startswith(text[angle:]):
            more = self._needs_more(window)
            return (angle, more) if more is not None else None
        return None

    def _quoted(self) -> str | None:
        """Where a command tag at this ``<`` is quoted by markdown code, or ``None``."""
        if self._state is not State.TEXT or self._markdown is None:
            return None
        code = self._markdown.code_at_tag()
        if code is CodeKind.FENCE and self._quote_fences:
            return "a fenced code block"
        return "an inline code span" if code is CodeKind.SPAN else None

    # -- close tags -----------------------------------------------------------------------------

    def _close_tag(
        self, window: TextWindow, angle: int, name: str, name_end: int
    ) -> tuple[int, _Outcome]:
        frame = self._stack[-1] if self._stack else None
        own = frame is not None and name == frame.tag.name
        if (not own and name not in self._roles) or self._quoted() is not None:
            return self._text_to(window, angle, angle + 1)
        text = window.text
        blank_end = CLOSE_TAG_TAIL.match(text, name_end).end()  # type: ignore[union-attr]
        if blank_end == len(text) and blank_end - name_end < self._limit:
            more = self._needs_more(window)
            if more is not None:
                self._wait_at(window, angle, _NOT_BLANK_BYTES, name_end - angle + self._limit)
                return angle, more
        if blank_end == len(text) or text[blank_end] != ">" or blank_end - name_end >= self._limit:
            return self._text_to(window, angle, angle + 1)
        if own and frame is not None:
            self._out.append(frame.tag.end)
            self._pop()
            return blank_end + 1, _Outcome.CHANGED
        inside = f" inside <{frame.tag.name}>" if frame is not None else ""
        self._problem(
            ProblemKind.UNEXPECTED_CLOSE,
            f"</{name}> closes nothing{inside}; passed through as text",
            self._window_position(window, angle),
            name,
        )
        return self._text_to(window, angle, blank_end + 1)

    def _wait_at(self, window: TextWindow, angle: int, wake: re.Pattern[bytes], bound: int) -> None:
        offset = self._base + window.byte_index(angle)
        self._wait = _Wait(offset, self._base + window.stop, wake, bound)

    # -- start tags -----------------------------------------------------------------------------

    def _open_tag(
        self, window: TextWindow, angle: int, name: str, name_end: int
    ) -> tuple[int, _Outcome]:
        role = self._roles.get(name)
        if role is None:
            return self._text_to(window, angle, angle + 1)
        if role is TagRole.NESTED:
            self._abandon(name, self._window_position(window, angle))
            return angle, _Outcome.CHANGED
        quoted = self._quoted()
        if quoted is not None:
            message = (
                f"<{name}> is inside {quoted} and was not run; "
                f"write it outside markdown code to run it"
            )
            where = self._window_position(window, angle)
            self._problem(ProblemKind.QUOTED_COMMAND, message, where, name)
            return self._text_to(window, angle, angle + 1)
        has_end = window.text.find(">", name_end) != -1  # else START_TAG cannot match
        match = START_TAG.match(window.text, angle) if has_end else None
        if match is None:
            return self._unmatched_tag(window, angle, name, name_end)
        if window.byte_length(angle, match.end()) > self._limit:
            return self._unterminated(window, angle, name)
        return self._start(window, angle, match)

    def _start(self, window: TextWindow, angle: int, match: re.Match[str]) -> tuple[int, _Outcome]:
        """A complete, well-formed start tag: it starts, unless an attribute repeats."""
        name, gt = match.group(1), match.end() - 1
        attributes = attributes_of(match.groups(), ATTRIBUTE_GROUPS, "&" in match.group())
        if attributes is None:
            reason = malformed_reason(window.text, angle + 1 + len(name), gt + 1)
            return self._malformed(window, angle, name, gt, reason)
        if window.dirty:  # bytes that are not UTF-8 in a value: U+FFFD as everywhere else
            attributes = {key: unescape_invalid(value) for key, value in attributes.items()}
        state, closed = self._state, bool(match.group(START_TAG_GROUPS))
        self._begin(self._tags[name], attributes, self._window_position(window, angle), closed)
        return gt + 1, _Outcome.CHANGED if self._state is not state else _Outcome.CONTINUE

    def _unmatched_tag(
        self, window: TextWindow, angle: int, name: str, name_end: int
    ) -> tuple[int, _Outcome]:
        """A start tag ``START_TAG`` did not match: cut, malformed, broken, or unterminated."""
        extent, stop = tag_extent(window.text, name_end)
        if window.byte_length(angle, stop) >= self._limit:
            return self._unterminated(window, angle, name)
        if extent is Extent.GREATER:
            reason = malformed_reason(window.text, name_end, stop + 1)
            return self._malformed(window, angle, name, stop, reason)
        if extent is not Extent.END:
            reason = (
                "'<' before the tag's '>'"
                if extent is Extent.LESS
                else "a quoted value is not closed before a '<'"
            )
            message = f"<{name}> is malformed ({reason}); it was not run"
            where = self._window_position(window, angle)
            self._problem(ProblemKind.MALFORMED_TAG, message, where, name)
            return self._text_to(window, angle, stop)
        more = self._needs_more(window)
        if more is None:
            return self._unterminated(window, angle, name)
        self._wait_at(window, angle, _TAG_END_BYTES, self._limit)
        return angle, more

    def _malformed(
        self, window: TextWindow, angle: int, name: str, gt: int, reason: str
    ) -> tuple[int, _Outcome]:
        """A command tag ended by ``>`` whose attributes do not parse: it is not run, and a
        body it has is passed through as text up to its close tag.
        """
        tag = self._tags[name]
        skip = tag.kind in (BodyKind.RAW, BodyKind.CONTAINER) and window.text[gt - 1] != "/"
        message = f"<{name}> is malformed ({reason}); it was not run"
        if skip:
            message += f"; its body up to </{name}> is passed through as text"
        where = self._window_position(window, angle)
        self._problem(ProblemKind.MALFORMED_TAG, message, where, name)
        self._emit_text(window, angle, gt + 1)
        if not skip:
            return gt + 1, _Outcome.CONTINUE
        self._push(tag, BodyKind.SKIPPED, where)
        return gt + 1, _Outcome.CHANGED

    def _unterminated(self, window: TextWindow, angle: int, name: str) -> tuple[int, _Outcome]:
        if len(self._buf) - window.byte_index(angle) < self._limit:
            message = f"the stream ended inside the <{name}> tag"
        else:
            message = f"<{name}> has no '>' within {self._limit} bytes"
        message += "; passed through as text"
        where = self._window_position(window, angle)
        self._problem(ProblemKind.UNTERMINATED_TAG, message, where, name)
        return self._text_to(window, angle, angle + 1)
