"""``GeneralParser``: the Sans-IO incremental parser's general path, which decides everything.

``_hot.ParserCore`` adds hot paths that take only inputs they decide exactly as this does.

One receive buffer (a ``bytearray``) with a consumed position; every step looks only at
unconsumed bytes, and what it leaves unconsumed is bounded (an incomplete tag up to
``max_tag_length``, a possible close-tag prefix, at most 3 bytes of a split UTF-8 character), so
the cost is linear in the stream and memory does not grow with it (issue rules 3, 4, 10).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, TypeAlias

from sa3p_parser._config import MarkdownPolicy, ParserConfig
from sa3p_parser._errors import ParserFinishedError, ParserInputTypeError
from sa3p_parser._fast import (
    new_end_tag,
    new_raw_chunk,
    new_start_tag,
    new_text,
    new_write_chunk,
)
from sa3p_parser._instructions import (
    EndTag,
    Instruction,
    ParseProblem,
    Position,
    ProblemKind,
    RawChunk,
    StartTag,
    Text,
    WriteChunk,
)
from sa3p_parser._lines import LineCounter
from sa3p_parser._markdown import CodeKind, MarkdownTracker
from sa3p_parser._scan import (
    CDATA_OPEN,
    NameScan,
    SimpleTag,
    TagScan,
    TagVerdict,
    close_tag_end,
    find_cdata_end,
    find_raw_end,
    match_simple_tag,
    raw_body_start,
    scan_name,
    scan_open_tag,
)
from sa3p_parser._states import TRANSITIONS, BodyKind, Frame, State
from sa3p_parser._text import TextDecoder

__all__ = ["GeneralParser", "ParserEvent"]

ParserEvent: TypeAlias = Text | StartTag | EndTag | RawChunk | ParseProblem
"""What ``StreamingParser`` emits: text, a start tag, a raw body chunk, an end tag, a problem."""


class _Finder(Protocol):
    def __call__(
        self, buf: bytearray, start: int, end: int, close: bytes, *, limit: int, final: bool
    ) -> tuple[int, int]: ...


class GeneralParser:
    """The general path of the parser: a state machine over one receive buffer.

    ``write_tag`` is the raw tag whose body chunks become ``WriteChunk`` (``None``: all are
    ``RawChunk``), the one difference between ``InstructionParser`` and ``StreamingParser``.
    """

    def __init__(self, config: ParserConfig | None, write_tag: str | None) -> None:
        self._config = config if config is not None else ParserConfig()
        self._write_tag = write_tag
        self._limit = self._config.max_tag_length
        self._longest = self._config.longest_name
        self._tracking = self._config.markdown is not MarkdownPolicy.IGNORE
        self._buf = bytearray()
        self._base = 0
        self._pos = 0
        self._final = False
        self._state = State.TEXT
        self._stack: list[Frame] = []
        self._out: list[Instruction] = []
        self._lines = LineCounter()
        self._markdown = MarkdownTracker()
        self._decoder = TextDecoder(self._out, self._config.max_invalid_utf8_reports)
        self._body_chunk = self._chunk_maker("")  # the open raw tag's (set by _push)
        self._direct = False  # in a raw body with nothing buffered: chunks pass straight through
        self._steps: dict[State, Callable[[], bool]] = {
            State.TEXT: self._step_text,
            State.COMMAND_BODY: self._step_text,
            State.CONTAINER_BODY: self._step_text,
            State.CONTAINER_CDATA: self._step_container_cdata,
            State.RAW_START: self._step_raw_start,
            State.RAW_BODY: self._step_raw_body,
            State.RAW_CDATA: self._step_raw_cdata,
            State.SKIPPED_BODY: self._step_skipped,
            State.FINISHED: lambda: False,
        }
        self._step = self._steps[self._state]

    @property
    def config(self) -> ParserConfig:
        """The options this parser was built with."""
        return self._config

    @property
    def buffered_len(self) -> int:
        """Bytes received but not yet turned into events (bounded by the config)."""
        return len(self._buf) - self._pos

    @property
    def open_tags(self) -> tuple[str, ...]:
        """The names of the tags open right now, outermost first."""
        return tuple(frame.name for frame in self._stack)

    def _feed_general(self, data: bytes | bytearray | memoryview | str) -> list[Instruction]:
        if self._state is State.FINISHED:
            raise ParserFinishedError("feed() after finish()")
        if type(data) is not bytes:  # the common case first: one identity test
            if isinstance(data, str):
                data = data.encode()
            elif not isinstance(data, bytes | bytearray | memoryview):
                raise ParserInputTypeError(type(data).__name__)
        self._buf += data
        self._run()
        self._compact()
        self._direct = self._state is State.RAW_BODY and not self._buf
        return self._drain()

    def _finish(self) -> list[Instruction]:
        if self._state is State.FINISHED:
            raise ParserFinishedError("finish() called twice")
        self._final = True
        self._direct = False
        self._run()
        end = self._position(len(self._buf))
        for frame in reversed(self._stack):
            self._problem(
                ProblemKind.UNCLOSED_COMMAND,
                f"the stream ended inside <{frame.name}> (opened at {frame.opened}); "
                f"it has no end tag and must not be treated as complete",
                end,
                frame.name,
            )
        self._stack.clear()
        self._enter(State.FINISHED)
        self._buf = bytearray()
        self._pos = 0
        return self._drain()

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        while self._step():
            pass

    def _enter(self, state: State) -> None:
        if state not in TRANSITIONS[self._state]:
            raise AssertionError(f"parser bug: no transition {self._state} -> {state}")
        self._state = state
        self._step = self._steps[state]  # looked up once per transition, not once per step

    def _compact(self) -> None:
        position = self._pos
        if position and position * 2 >= len(self._buf):
            self._lines.skip(self._buf, self._base, self._base + position)
            del self._buf[:position]
            self._base += position
            self._pos = 0

    def _drain(self) -> list[Instruction]:
        out = self._out[:]
        self._out.clear()
        return out

    # -- text and tags --------------------------------------------------------------------

    def _step_text(self) -> bool:
        buf, position = self._buf, self._pos
        if position >= len(buf):
            return False
        angle = buf.find(b"<", position)
        if angle == -1:
            self._pos = self._emit_text(position, len(buf), self._final)
            return False
        self._pos = self._emit_text(position, angle, True)
        return self._at_angle(angle)

    def _at_angle(self, angle: int) -> bool:
        simple = match_simple_tag(self._buf, angle, len(self._buf), self._limit)
        if simple is not None and self._simple_start(angle, simple):
            return True
        if self._state is State.CONTAINER_BODY:
            head = self._buf[angle : angle + len(CDATA_OPEN)]
            if head == CDATA_OPEN:
                self._pos = angle + len(CDATA_OPEN)
                self._enter(State.CONTAINER_CDATA)
                return True
            if CDATA_OPEN.startswith(head) and not self._final:
                return False
        scan = scan_name(self._buf, angle, len(self._buf), self._longest, self._final)
        if scan is None:
            return False
        if not scan.name:
            return self._text_to(angle + 1)
        if scan.closing:
            return self._close_tag(angle, scan)
        return self._open_tag(angle, scan)

    def _simple_start(self, angle: int, tag: SimpleTag) -> bool:
        """Start a command found in one match; ``False`` leaves it to the general path."""
        name = tag.name.decode("ascii")
        state = self._state
        if state is State.TEXT:
            if name not in self._config.command_tags or self._quoted() is not None:
                return False
        elif state is not State.CONTAINER_BODY or name not in self._children():
            return False
        self._start(name, tag.attributes, self._position(angle), tag.self_closing)
        self._pos = tag.stop
        if state is State.TEXT:
            self._markdown.note_command()
        return True

    def _text_to(self, stop: int) -> bool:
        self._pos = self._emit_text(self._pos, stop, True)
        return True

    def _close_tag(self, angle: int, scan: NameScan) -> bool:
        name = scan.name
        frame = self._stack[-1] if self._stack else None
        own = frame is not None and name == frame.name
        if not own and not self._is_structure(name):
            return self._text_to(angle + 1)
        if self._state is State.TEXT and self._quoted() is not None:
            return self._text_to(angle + 1)
        after = close_tag_end(self._buf, scan.name_end, len(self._buf), self._limit, self._final)
        if after is None:
            return False
        if after < 0:
            return self._text_to(angle + 1)
        if own and frame is not None:
            self._out.append(new_end_tag(name))
            self._pos = after
            self._pop()
            return True
        inside = f" inside <{frame.name}>" if frame is not None else ""
        self._problem(
            ProblemKind.UNEXPECTED_CLOSE,
            f"</{name}> closes nothing{inside}; passed through as text",
            self._position(angle),
            name,
        )
        return self._text_to(after)

    def _open_tag(self, angle: int, scan: NameScan) -> bool:
        name = scan.name
        if self._state is State.TEXT:
            if name not in self._config.command_tags:
                return self._text_to(angle + 1)
            where = self._quoted()
            if where is not None:
                return self._quote(angle, name, where)
        elif name not in self._children():
            if name not in self._config.command_tags:
                return self._text_to(angle + 1)
            return self._abandon(angle, name)
        tag = scan_open_tag(
            self._buf, angle, scan.name_end, len(self._buf), limit=self._limit, final=self._final
        )
        if tag is None:
            return False
        return self._open_scanned(angle, name, tag)

    def _open_scanned(self, angle: int, name: str, tag: TagScan) -> bool:
        position = self._position(angle)
        match tag.verdict:
            case TagVerdict.OPEN:
                state = self._state
                self._start(name, tag.attributes, position, tag.self_closing)
                self._pos = tag.stop
                if state is State.TEXT:
                    self._markdown.note_command()
                return True
            case TagVerdict.MALFORMED:
                return self._malformed(angle, name, tag, position)
            case TagVerdict.BROKEN:
                message = f"<{name}> is malformed ({tag.reason}); it was not run"
                self._problem(ProblemKind.MALFORMED_TAG, message, position, name)
                return self._text_to(tag.stop)
            case TagVerdict.UNTERMINATED:
                if len(self._buf) - angle < self._limit:
                    message = f"the stream ended inside the <{name}> tag"
                else:
                    message = f"<{name}> has no '>' within {self._limit} bytes"
                message += "; passed through as text"
                self._problem(ProblemKind.UNTERMINATED_TAG, message, position, name)
                return self._text_to(angle + 1)

    def _malformed(self, angle: int, name: str, tag: TagScan, position: Position) -> bool:
        """Report a malformed command; it is not run, and a body it has is passed as text."""
        skip = self._has_body(name) and self._buf[tag.stop - 2] != 0x2F
        message = f"<{name}> is malformed ({tag.reason}); it was not run"
        if skip:
            message += f"; its body up to </{name}> is passed through as text"
        self._problem(ProblemKind.MALFORMED_TAG, message, position, name)
        self._pos = self._emit_text(angle, tag.stop, True)
        if skip:
            self._push(name, BodyKind.SKIPPED, position)
        return True

    def _quote(self, angle: int, name: str, where: str) -> bool:
        message = (
            f"<{name}> is inside {where} and was not run; write it outside markdown code to run it"
        )
        self._problem(ProblemKind.QUOTED_COMMAND, message, self._position(angle), name)
        return self._text_to(angle + 1)

    def _start(
        self, name: str, attributes: dict[str, str], position: Position, self_closing: bool
    ) -> None:
        self._out.append(new_start_tag(name, attributes, position))
        if self_closing:
            self._out.append(new_end_tag(name))
        elif name in self._config.raw_tags:
            self._push(name, BodyKind.RAW, position)
        elif name in self._config.child_tags:
            self._push(name, BodyKind.CONTAINER, position)
        else:
            self._push(name, BodyKind.PLAIN, position)

    def _abandon(self, angle: int, name: str) -> bool:
        frame = self._stack[-1]
        self._problem(
            ProblemKind.NESTED_COMMAND,
            f"<{name}> opened inside <{frame.name}> (opened at {frame.opened}), which was "
            f"never closed; <{frame.name}> is closed here",
            self._position(angle),
            name,
        )
        self._out.append(new_end_tag(frame.name))
        self._pop()
        return True

    def _quoted(self) -> str | None:
        """Where the next ``<`` is quoted by markdown code under the policy, or ``None``."""
        if not self._tracking:
            return None
        code = self._markdown.code_at_next_byte()
        if code is CodeKind.FENCE and self._config.markdown is MarkdownPolicy.QUOTE_CODE:
            return "a fenced code block"
        if code is CodeKind.SPAN:
            return "an inline code span"
        return None

    def _children(self) -> frozenset[str]:
        if self._state is State.CONTAINER_BODY:
            return self._config.child_tags.get(self._stack[-1].name, frozenset())
        return frozenset()

    def _is_structure(self, name: str) -> bool:
        return name in self._config.command_tags or name in self._children()

    def _has_body(self, name: str) -> bool:
        return name in self._config.raw_tags or name in self._config.child_tags

    def _push(self, name: str, kind: BodyKind, position: Position) -> None:
        self._stack.append(Frame(name, b"</" + name.encode(), kind, position))
        if kind is BodyKind.RAW:
            self._body_chunk = self._chunk_maker(name)
        self._enter(kind.value)

    def _pop(self) -> None:
        self._stack.pop()
        if self._stack:
            self._enter(self._stack[-1].kind.value)
        else:
            self._enter(State.TEXT)
            self._markdown.note_command()

    # -- bodies ---------------------------------------------------------------------------

    def _step_raw_start(self) -> bool:
        start = raw_body_start(self._buf, self._pos, len(self._buf), self._final)
        if start is None:
            return False
        self._pos, cdata = start
        self._enter(State.RAW_CDATA if cdata else State.RAW_BODY)
        return True

    def _step_raw_body(self) -> bool:
        return self._raw(find_raw_end)

    def _step_raw_cdata(self) -> bool:
        return self._raw(find_cdata_end)

    def _raw(self, finder: _Finder) -> bool:
        frame, position = self._stack[-1], self._pos
        stop, resume = finder(
            self._buf, position, len(self._buf), frame.close, limit=self._limit, final=self._final
        )
        if stop > position:
            self._out.append(self._chunk(frame.name, self._take(position, stop)))
        self._pos = stop
        if resume < 0:
            return False
        self._out.append(new_end_tag(frame.name))
        self._pos = resume
        self._pop()
        return True

    def _step_skipped(self) -> bool:
        frame, position, end = self._stack[-1], self._pos, len(self._buf)
        stop, resume = find_raw_end(
            self._buf, position, end, frame.close, limit=self._limit, final=self._final
        )
        if resume < 0:
            self._pos = self._emit_text(position, stop, self._final or stop < end)
            return False
        self._emit_text(position, stop, True)
        self._pos = self._emit_text(stop, resume, True)
        self._pop()
        return True

    def _step_container_cdata(self) -> bool:
        buf, position, end = self._buf, self._pos, len(self._buf)
        found = buf.find(b"]]>", position)
        if found != -1:
            self._emit_text(position, found, True)
            self._pos = found + 3
            self._enter(State.CONTAINER_BODY)
            return True
        stop = end
        if not self._final:
            stop -= 2 if buf.endswith(b"]]") else 1 if buf.endswith(b"]") else 0
        self._pos = self._emit_text(position, max(stop, position), self._final or stop < end)
        return False

    # -- emitting -------------------------------------------------------------------------

    def _chunk_maker(self, tag: str) -> Callable[[bytes], RawChunk | WriteChunk]:
        return new_write_chunk if tag == self._write_tag else partial(new_raw_chunk, tag)

    def _chunk(self, tag: str, data: bytes) -> RawChunk | WriteChunk:
        return new_write_chunk(data) if tag == self._write_tag else new_raw_chunk(tag, data)

    def _take(self, start: int, stop: int) -> bytes:
        with memoryview(self._buf) as view:
            return view[start:stop].tobytes()

    def _emit_text(self, start: int, stop: int, complete: bool) -> int:
        """Emit ``buf[start:stop]`` as text; returns where the consumed part ends."""
        if start >= stop:
            return start
        data = self._buf[start:stop]
        try:  # the common case in one step; the decoder handles split and invalid characters
            self._out.append(new_text(data.decode()))
            consumed = stop - start
        except UnicodeDecodeError:
            consumed = self._decoder.decode(
                bytes(data), self._base + start, complete, self._position_at
            )
        if self._state is State.TEXT and self._tracking:
            self._markdown.feed(self._buf, start, start + consumed)
        return start + consumed

    def _problem(self, kind: ProblemKind, message: str, where: Position, tag: str | None) -> None:
        self._out.append(ParseProblem(kind=kind, message=message, position=where, tag=tag))

    def _position(self, offset: int) -> Position:
        return self._lines.advance(self._buf, self._base, self._base + offset)

    def _position_at(self, stream_offset: int) -> Position:
        return self._lines.advance(self._buf, self._base, stream_offset)
