"""``ParserCore``: the general parser plus its hot paths.

Each hot path takes only inputs it can decide exactly as the general path would, and leaves
everything else to it, so chunk boundaries still carry no meaning (issue rule 3):

* a raw body's chunk with nothing buffered passes straight through as a ``WriteChunk`` (no
  copy; a memchr for ``<``, and line counting, are the whole cost);
* top-level text with complete, simple command tags is taken one regular-expression match per
  tag, and the simplest units (text, then a self-closing tag with double-quoted, entity-free
  attributes) in C when the optional accelerator is built.

The general path remembers up to where it handles text (``_general_until``) so that no byte is
scanned twice by the hot path after it stopped short (STYLE habit 5).
"""

from __future__ import annotations

import enum

from sa3p_parser._accel import ScanCommands, c_attribute
from sa3p_parser._config import ParserConfig
from sa3p_parser._fast import new_end_tag, new_start_tag, new_text
from sa3p_parser._instructions import EndTag, Instruction, Position, StartTag, Text
from sa3p_parser._parser import GeneralParser
from sa3p_parser._scan import command_run_pattern, held_back_prefix, simple_attributes
from sa3p_parser._states import State

__all__ = ["ParserCore"]

_TEXT = State.TEXT


class _Run(enum.Enum):
    """How a run of the top-level hot path ended."""

    OPENED = enum.auto()
    """A command with a body was opened: the state changed."""
    WAIT = enum.auto()
    """Everything up to a possible cut tag (or the end) was taken: wait for more bytes."""
    HAND_OVER = enum.auto()
    """The general path takes over at ``_general_until``."""


class ParserCore(GeneralParser):
    """The parser; ``StreamingParser`` and ``InstructionParser`` differ only in what a
    ``write_chunk_tag`` body chunk becomes (built directly, to keep the hot path short).
    """

    def __init__(self, config: ParserConfig | None, write_tag: str | None) -> None:
        super().__init__(config, write_tag)
        tags = self._config.command_tags
        self._command_run = command_run_pattern(tags).match
        self._general_until = 0  # stream offset up to which the general path handles text
        self._scan_commands: ScanCommands | None = c_attribute("scan_commands")
        self._command_names = tuple((name.encode(), name) for name in sorted(tags))
        self._kit = (Text, StartTag, EndTag, Position)

    def _feed(self, data: bytes | bytearray | memoryview | str) -> list[Instruction]:
        """Parse the next chunk of the stream.

        Args:
            data: the bytes (or text, encoded as UTF-8) that follow the previous chunk.

        Returns:
            What this chunk completed.

        Raises:
            ParserFinishedError: ``finish()`` was already called.
            ParserInputTypeError: ``data`` is not bytes-like or ``str``.
        """
        if self._direct and type(data) is bytes:
            if data.find(b"<") == -1:  # a big body's hot path (memchr): no copy, no buffer
                self._lines.skip_all(data)
                self._base += len(data)
                return [self._body_chunk(data)]
            data = self._raw_fast_path(data)
            if not data:
                return self._drain()
        return self._feed_general(data)

    def _raw_fast_path(self, data: bytes) -> bytes:
        """Inside a raw body with nothing buffered, ``data`` has a ``<``: emit the chunk up to
        a possible close tag without copying it.

        Returns the bytes left for the general path (from the possible close tag on).
        """
        close = self._stack[-1].close
        found = data.find(close, data.find(b"<"))
        stop = held_back_prefix(data, 0, len(data), close) if found < 0 else found
        if stop:
            self._out.append(self._chunk(self._stack[-1].name, data[:stop]))
            self._lines.skip_all(data[:stop])
            self._base += stop
        return data[stop:] if stop else data

    def _step_text(self) -> bool:
        if self._state is _TEXT and self._base + self._pos >= self._general_until:
            outcome = self._top_level_run()
            if outcome is not _Run.HAND_OVER:
                return outcome is _Run.OPENED
        return super()._step_text()

    def _top_level_run(self) -> _Run:
        """The tag-dense hot path: top-level text and complete, simple command tags, one
        regular-expression match each.

        Plain text that ends the buffer, or precedes a tag the end of the buffer cut, is emitted
        and the parser waits there for more bytes. At anything else (another ``<`` that may
        matter, quoted code, invalid UTF-8, a tag that is not simple) it hands over to the
        general path at that ``<``, and resumes after the general path has taken it, so no byte
        is scanned more than a bounded number of times (STYLE habit 5).

        Returns:
            What ended the run.
        """
        buf, out, match, limit = self._buf, self._out, self._command_run, self._limit
        while True:
            if self._scan_in_c():
                return self._wait()
            found = match(buf, self._pos)
            if found is None or found.lastindex is None or found.lastindex < 2:
                return self._end_of_run(found.end(1) if found is not None else self._pos)
            angle = found.start(2) - 1
            raw = found.group(3)
            attributes = simple_attributes(raw) if raw else {}
            if found.end() - angle > limit or attributes is None:
                return self._hand_over(angle)
            if not self._top_level_text(self._pos, angle):
                return self._hand_over(angle)
            name = found.group(2).decode("ascii")
            self._pos = found.end()
            if not found.group(4):
                self._start(name, attributes, self._position(angle), False)
                return _Run.OPENED
            out.append(new_start_tag(name, attributes, self._position(angle)))
            out.append(new_end_tag(name))

    def _end_of_run(self, stop: int) -> _Run:
        """No simple command tag follows: the text up to ``stop`` holds no ``<`` that matters."""
        stop = stop if stop < len(self._buf) else self._last_angle()
        if (self._cut_tag(stop) and self._plain_text_to(stop)) or self._text_to_end(stop):
            return self._wait()
        return self._hand_over(stop)

    def _wait(self) -> _Run:
        """Resume here when more bytes arrive."""
        self._general_until = self._base + self._pos
        return _Run.WAIT

    def _hand_over(self, stop: int) -> _Run:
        """The general path handles the text before ``buf[stop]`` and what starts there."""
        self._general_until = self._base + stop
        return _Run.HAND_OVER

    def _cut_tag(self, angle: int) -> bool:
        """Whether ``buf[angle:]`` may be a tag the end of the buffer cut: the general path would
        wait there too, or decide the same once more bytes arrive (decisions depend on bytes,
        not on chunking), and the wait is bounded by ``max_tag_length``.
        """
        buf = self._buf
        return (
            not self._final
            and angle < len(buf)
            and len(buf) - angle < self._limit
            and buf.find(b">", angle) == -1
            and buf.find(b"<", angle + 1) == -1
        )

    def _plain_text_to(self, angle: int) -> bool:
        """Emit the text before the ``<`` at ``angle`` if it is valid UTF-8 without markdown
        characters while no markdown code is pending (then the ``<``, whatever it turns out to
        be, ends any line prefix and leaves no code open). ``False``: nothing was done.
        """
        start = self._pos
        try:
            text = self._buf[start:angle].decode()
        except UnicodeDecodeError:
            return False
        if self._tracking and ("`" in text or "~" in text or not self._markdown.skip_plain()):
            return False
        if text:
            self._out.append(new_text(text))
        self._pos = angle
        return True

    def _text_to_end(self, stop: int) -> bool:
        """Emit the rest of the buffer as text if ``stop`` is its end and it is valid, complete
        UTF-8 (it holds no ``<`` that may matter). ``False``: nothing was done.
        """
        start, end = self._pos, len(self._buf)
        if stop != end or self._final or start == end:
            return False
        try:
            text = self._buf[start:end].decode()
        except UnicodeDecodeError:
            return False
        if self._tracking:
            self._markdown.feed(self._buf, start, end)
        self._out.append(new_text(text))
        self._pos = end
        return True

    def _last_angle(self) -> int:
        """Where a tag name cut by the end of the buffer may start (the end if nowhere)."""
        end = len(self._buf)
        angle = self._buf.rfind(b"<", max(self._pos, end - self._longest - 2))
        return angle if angle != -1 else end

    def _scan_in_c(self) -> bool:
        """Let the C accelerator, if built, take the simplest units of the tag-dense path, and
        text that ends the buffer or precedes a tag it cut; ``True`` means wait for more bytes.
        """
        scan, tracking = self._scan_commands, self._tracking
        if scan is None or (tracking and not self._markdown.is_plain()):
            return False
        buf, position = self._buf, self._pos
        stop, wait, text_start = scan(
            buf, position, self._lines, self._base, self._limit, tracking, self._final,
            self._kit, self._command_names, self._out,
        )  # fmt: skip
        self._pos = stop
        if tracking and stop != position:
            if stop < len(buf) or text_start > position:  # units, or text before a cut tag
                self._markdown.skip_plain()
            if wait and stop == len(buf):  # text to the end: its line may go on
                self._markdown.feed(buf, text_start, stop)
        return bool(wait)

    def _top_level_text(self, start: int, angle: int) -> bool:
        """Emit the text before a command tag at ``angle`` and settle markdown.

        Returns ``False`` if the general path must handle the tag: with nothing emitted for
        invalid UTF-8, or with the text emitted up to ``angle`` for a quoted tag.
        """
        if start < angle:
            try:
                text = self._buf[start:angle].decode()
            except UnicodeDecodeError:
                return False
        else:
            text = ""
        markdown = self._markdown
        if self._tracking and not ("`" not in text and "~" not in text and markdown.skip_plain()):
            markdown.feed(self._buf, start, angle)
            if self._quoted() is not None:
                if text:
                    self._out.append(new_text(text))
                self._pos = angle
                return False
            markdown.note_command()
        if text:
            self._out.append(new_text(text))
        return True
