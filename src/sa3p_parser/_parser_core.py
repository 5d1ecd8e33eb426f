"""``ParserCore``: the Sans-IO incremental parser: one state machine, one decision path.

One receive buffer (a ``bytearray``) with a consumed position; every step looks only at
unconsumed bytes, and what it leaves unconsumed is bounded (an incomplete tag up to
``max_tag_length``, a possible close-tag prefix, at most 3 bytes of a split UTF-8 character), so
the cost is linear in the stream and memory does not grow with it (issue rules 3, 4, 10).

Raw bodies are searched as bytes (``_raw_bodies``); text with tags in it is decoded a window at a
time and read by ``_text_scanner.TextScanner`` (the text states' step).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeAlias

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
    trusted_end_tag,
    trusted_raw_chunk,
    trusted_start_tag,
    trusted_text,
    trusted_write_chunk,
)
from sa3p_parser._markdown_code import MarkdownCode
from sa3p_parser._parser_config import MarkdownPolicy, ParserConfig
from sa3p_parser._parser_errors import ParserFinishedError, ParserInputTypeError
from sa3p_parser._parser_states import TRANSITIONS, BodyKind, Frame, State, TagInfo, TagRole
from sa3p_parser._raw_bodies import find_cdata_end, find_raw_end, raw_body_start
from sa3p_parser._stream_position import StreamPosition
from sa3p_parser._utf8_text import TextDecoder

__all__ = ["ParserCore", "ParserEvent"]

ParserEvent: TypeAlias = Text | StartTag | EndTag | RawChunk | ParseProblem
"""What ``StreamingParser`` emits: text, a start tag, a raw body chunk, an end tag, a problem."""

COMPACT_AFTER = 4096
"""The least consumed bytes worth a compaction (small chunks would compact at every feed)."""
_LESS_THAN = ord("<")  # an int: ``bytes.__contains__`` of an int is a plain memchr


class ParserCore:
    """The parser's state machine over one receive buffer.

    ``write_tag`` is the raw tag whose body chunks become ``WriteChunk`` (``None``: all are
    ``RawChunk``), the one difference between ``InstructionParser`` and ``StreamingParser``.
    Subclasses add the text states' step (``_step_text``).
    """

    def __init__(self, config: ParserConfig | None, write_tag: str | None) -> None:
        self._config = config if config is not None else ParserConfig()
        self._limit = self._config.max_tag_length
        tracking = self._config.markdown is not MarkdownPolicy.IGNORE
        self._markdown = MarkdownCode() if tracking else None
        self._buf = bytearray()
        self._base = 0  # the stream offset of buf[0]
        self._pos = 0  # how much of buf is consumed
        self._final = False
        self._direct = False  # in a raw body with nothing buffered: chunks pass straight through
        # how a chunk of that body becomes a value
        self._direct_chunk: Callable[[bytes], RawChunk | WriteChunk] = trusted_write_chunk
        self._state = State.TEXT
        self._stack: list[Frame] = []
        self._out: list[Instruction] = []
        self._lines = StreamPosition()
        self._decoder = TextDecoder(self._config.max_invalid_utf8_reports)
        self._tags = _tag_infos(self._config, write_tag)
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
        return tuple(frame.tag.name for frame in self._stack)

    # -- feeding --------------------------------------------------------------------------------

    def _feed(self, data: bytes | bytearray | memoryview | str) -> list[Instruction]:
        """``InstructionParser.feed`` (this very function) and ``StreamingParser.feed``."""
        if self._direct and type(data) is bytes and _LESS_THAN not in data:
            # Inside a raw body with nothing buffered, a chunk without '<' cannot hold the close
            # tag: it is all body, passed on as it came (no copy), its lines counted later.
            self._lines.defer(data)
            self._base += len(data)
            return [self._direct_chunk(data)]
        return self._feed_buffered(data)

    def _feed_buffered(self, data: bytes | bytearray | memoryview | str) -> list[Instruction]:
        if self._direct and type(data) is bytes and self._pass_through(data):
            return self._drain()
        if self._state is State.FINISHED:
            raise ParserFinishedError("feed() after finish()")
        if type(data) is not bytes:  # the common case first: one identity test
            if isinstance(data, str):
                data = data.encode()
            elif not isinstance(data, bytes | bytearray | memoryview):
                raise ParserInputTypeError(type(data).__name__)
        self._buf += data
        self._run()
        self._direct = self._state is State.RAW_BODY and self._pos == len(self._buf)
        self._compact(everything=self._direct)
        if self._direct:
            self._direct_chunk = self._stack[-1].tag.chunk
        return self._drain()

    def _pass_through(self, data: bytes) -> bool:
        """Inside a raw body with nothing buffered, ``data`` itself is the receive buffer: the
        body part is emitted without a copy, and only a possible close-tag start is buffered.

        Returns ``False`` (nothing done) if the close tag is in ``data``.
        """
        tag = self._stack[-1].tag
        stop, resume = find_raw_end(data, 0, len(data), tag.close, limit=self._limit, final=False)
        if resume >= 0:
            return False
        body = data if stop == len(data) else data[:stop]
        if body:
            self._lines.defer(body)
            self._out.append(tag.chunk(body))
        self._base += stop
        if stop < len(data):
            self._buf += data[stop:]
            self._direct = False
        return True

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
                f"the stream ended inside <{frame.tag.name}> (opened at {frame.opened}); "
                f"it has no end tag and must not be treated as complete",
                end,
                frame.tag.name,
            )
        self._stack.clear()
        self._enter(State.FINISHED)
        self._buf = bytearray()
        self._pos = 0
        return self._drain()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        while self._step():
            pass

    def _step_text(self) -> bool:
        raise NotImplementedError  # the text states' step: ``TextScanner``

    def _enter(self, state: State) -> None:
        if state not in TRANSITIONS[self._state]:
            raise AssertionError(f"parser bug: no transition {self._state} -> {state}")
        self._state = state
        self._step = self._steps[state]  # looked up once per transition, not once per step

    def _compact(self, everything: bool) -> None:
        """Drop the consumed prefix once it is half the buffer and at least ``COMPACT_AFTER``
        bytes (not per chunk: habit 5), or ``everything`` consumed (for the pass-through).
        """
        position = self._pos
        if position and (everything or position >= max(COMPACT_AFTER, len(self._buf) >> 1)):
            self._lines.skip(self._buf, self._base, self._base + position)
            del self._buf[:position]
            self._base += position
            self._pos = 0

    def _drain(self) -> list[Instruction]:
        out, self._out = self._out, []
        return out

    # -- the stack ------------------------------------------------------------------------------

    def _begin(
        self, tag: TagInfo, attributes: dict[str, str], where: Position, closed: bool
    ) -> None:
        """A start tag was accepted: emit it and open its body (or close it at once)."""
        self._out.append(trusted_start_tag(tag.name, attributes, where))
        if self._state is State.TEXT and self._markdown is not None:
            self._markdown.note_command()
        if closed:
            self._out.append(tag.end)
        else:
            self._push(tag, tag.kind, where)

    def _push(self, tag: TagInfo, kind: BodyKind, where: Position) -> None:
        self._stack.append(Frame(tag, kind, where))
        self._enter(kind.value)

    def _pop(self) -> None:
        self._stack.pop()
        if self._stack:
            self._enter(self._stack[-1].kind.value)
            return
        self._enter(State.TEXT)
        if self._markdown is not None:
            self._markdown.note_command()

    def _abandon(self, name: str, where: Position) -> None:
        """A command opened inside an unclosed non-raw command: close that one implicitly."""
        frame = self._stack[-1]
        self._problem(
            ProblemKind.NESTED_COMMAND,
            f"<{name}> opened inside <{frame.tag.name}> (opened at {frame.opened}), which was "
            f"never closed; <{frame.tag.name}> is closed here",
            where,
            name,
        )
        self._out.append(frame.tag.end)
        self._pop()

    # -- bodies ---------------------------------------------------------------------------------

    def _step_raw_start(self) -> bool:
        start = raw_body_start(self._buf, self._pos, len(self._buf), self._final)
        if start is None:
            return False
        self._pos, cdata = start
        self._enter(State.RAW_CDATA if cdata else State.RAW_BODY)
        return True

    def _step_raw_body(self) -> bool:
        return self._raw_body(cdata=False)

    def _step_raw_cdata(self) -> bool:
        return self._raw_body(cdata=True)

    def _raw_body(self, cdata: bool) -> bool:
        tag, position, end = self._stack[-1].tag, self._pos, len(self._buf)
        finder = find_cdata_end if cdata else find_raw_end
        stop, resume = finder(
            self._buf, position, end, tag.close, limit=self._limit, final=self._final
        )
        if stop > position:
            with memoryview(self._buf) as view:
                self._out.append(tag.chunk(view[position:stop].tobytes()))
        self._pos = stop
        if resume < 0:
            return False
        self._out.append(tag.end)
        self._pos = resume
        self._pop()
        return True

    def _step_skipped(self) -> bool:
        close, position, end = self._stack[-1].tag.close, self._pos, len(self._buf)
        stop, resume = find_raw_end(
            self._buf, position, end, close, limit=self._limit, final=self._final
        )
        if resume < 0:
            self._pos = self._emit_bytes(position, stop, self._final or stop < end)
            return False
        self._emit_bytes(position, stop, True)
        self._pos = self._emit_bytes(stop, resume, True)
        self._pop()
        return True

    def _step_container_cdata(self) -> bool:
        buf, position = self._buf, self._pos
        found = buf.find(b"]]>", position)
        if found != -1:
            self._emit_bytes(position, found, True)
            self._pos = found + 3
            self._enter(State.CONTAINER_BODY)
            return True
        stop = len(buf)
        if not self._final:
            stop -= 2 if buf.endswith(b"]]") else 1 if buf.endswith(b"]") else 0
        stop = max(stop, position)
        self._pos = self._emit_bytes(position, stop, self._final or stop < len(buf))
        return False

    # -- emitting -------------------------------------------------------------------------------

    def _emit_bytes(self, start: int, stop: int, complete: bool) -> int:
        """Emit ``buf[start:stop]`` as text; returns where the consumed part ends.

        An incomplete UTF-8 character at the end stays unconsumed unless ``complete``.
        """
        if start >= stop:
            return start
        data = bytes(self._buf[start:stop])
        try:  # the common case in one step; the decoder handles split and invalid characters
            text = data.decode()
        except UnicodeDecodeError:
            offset = self._base + start
            consumed = self._decoder.decode(self._out, data, offset, complete, self._position_at)
            text = data[:consumed].decode("utf-8", "replace")
        else:
            self._out.append(trusted_text(text))
            consumed = stop - start
        if self._state is State.TEXT and self._markdown is not None:
            self._markdown.feed(text)
        return start + consumed

    def _problem(self, kind: ProblemKind, message: str, where: Position, tag: str | None) -> None:
        self._out.append(ParseProblem(kind=kind, message=message, position=where, tag=tag))

    def _position(self, index: int) -> Position:
        """The position of buffer index ``index``, counted in bytes."""
        return self._lines.at(self._buf, self._base, self._base + index)

    def _position_at(self, offset: int) -> Position:
        return self._lines.at(self._buf, self._base, offset)


def _tag_infos(config: ParserConfig, write_tag: str | None) -> dict[str, TagInfo]:
    """What the parser needs to know of every command and child tag, by name."""
    children = {name for names in config.child_tags.values() for name in names}
    infos = {}
    for name in sorted(config.command_tags | children):
        if name in config.raw_tags:
            kind = BodyKind.RAW
        elif name in config.child_tags:
            kind = BodyKind.CONTAINER
        else:
            kind = BodyKind.PLAIN
        chunk = trusted_write_chunk if name == write_tag else partial(trusted_raw_chunk, name)
        infos[name] = TagInfo(name, b"</" + name.encode(), kind, trusted_end_tag(name), chunk)
    return infos


def tag_roles(config: ParserConfig, state: State, container: str | None) -> dict[str, TagRole]:
    """The role of each tag name that matters in a text state (STYLE habit 2: a table).

    At the top level commands start; inside a command they abandon it; inside a container its
    children start. Every other start tag is text.
    """
    role = TagRole.START if state is State.TEXT else TagRole.NESTED
    roles = dict.fromkeys(config.command_tags, role)
    if container is not None:
        roles.update(dict.fromkeys(config.child_tags.get(container, ()), TagRole.START))
    return roles
