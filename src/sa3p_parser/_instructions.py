"""The instruction values the parser produces.

Every value is frozen. Chunk boundaries of the input carry no meaning: two chunkings of the same
bytes give the same list of instructions once adjacent ``Text``, adjacent ``WriteChunk`` and
adjacent same-tag ``RawChunk`` values are merged (see ``coalesce``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias


@dataclass(frozen=True, slots=True)
class Position:
    """Where something is in the stream.

    Attributes:
        line: 1-based line number.
        column: 1-based column, counted in characters of the decoded text.
        offset: 0-based byte offset from the start of the stream.
    """

    line: int
    column: int
    offset: int

    def __post_init__(self) -> None:
        if self.line < 1 or self.column < 1 or self.offset < 0:
            raise ValueError(f"invalid position {self.line}:{self.column} @{self.offset}")

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column} (byte {self.offset})"


@dataclass(frozen=True, slots=True)
class Text:
    """Prose, unknown tags and anything else that is not a command: passed through verbatim."""

    text: str


@dataclass(frozen=True, slots=True)
class StartTag:
    """A command tag opened. ``attributes`` is a read-only mapping with entities decoded.

    ``position`` (where the ``<`` was) is informational and ignored by equality.
    """

    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    position: Position | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("tag name must not be empty")
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))


@dataclass(frozen=True, slots=True)
class EndTag:
    """A command tag closed (explicitly, or by ``<tag/>``)."""

    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("tag name must not be empty")


@dataclass(frozen=True, slots=True)
class WriteChunk:
    """A piece of a ``write_file`` body, byte-exact."""

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise TypeError(f"WriteChunk.data must be bytes, not {type(self.data).__name__}")


@dataclass(frozen=True, slots=True)
class RawChunk:
    """A piece of the body of a raw tag other than ``write_file`` (terminal, search, replace…)."""

    tag: str
    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise TypeError(f"RawChunk.data must be bytes, not {type(self.data).__name__}")


class ProblemKind(enum.Enum):
    """What the model's markup got wrong. Reported in-band; the parser recovers."""

    MALFORMED_TAG = "malformed_tag"
    """A command tag whose attributes could not be parsed."""
    UNTERMINATED_TAG = "unterminated_tag"
    """A command tag with no ``>`` within the bounded tag length."""
    UNCLOSED_COMMAND = "unclosed_command"
    """A command still open when the stream finished (a cut-off model)."""
    NESTED_COMMAND = "nested_command"
    """A command opened inside an unclosed non-raw command; the open one was abandoned."""
    UNEXPECTED_CLOSE = "unexpected_close"
    """A command's close tag with no matching open tag; passed through as text."""
    INVALID_UTF8 = "invalid_utf8"
    """Bytes outside raw bodies that are not UTF-8; replaced by U+FFFD."""
    QUOTED_COMMAND = "quoted_command"
    """A command tag inside markdown code, passed through as text and not run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseProblem:
    """An in-band report of a problem in the model's output, with where it happened."""

    kind: ProblemKind
    message: str
    position: Position
    tag: str | None = None

    def __str__(self) -> str:
        return f"{self.message} at {self.position}"


Instruction: TypeAlias = Text | StartTag | EndTag | WriteChunk | RawChunk | ParseProblem


def coalesce(instructions: Iterable[Instruction]) -> list[Instruction]:
    """Merge adjacent ``Text``, adjacent ``WriteChunk`` and adjacent same-tag ``RawChunk`` values.

    Two chunkings of the same input give equal lists after ``coalesce``. Empty pieces are dropped.
    Pieces are joined once per run, so the cost is linear in the total size.
    """
    merged: list[Instruction] = []
    run: list[Text] | list[WriteChunk] | list[RawChunk] = []

    def flush() -> None:
        if not run:
            return
        first = run[0]
        if isinstance(first, Text):
            merged.append(Text("".join(piece.text for piece in run if isinstance(piece, Text))))
        elif isinstance(first, WriteChunk):
            merged.append(WriteChunk(b"".join(p.data for p in run if isinstance(p, WriteChunk))))
        else:
            data = b"".join(p.data for p in run if isinstance(p, RawChunk))
            merged.append(RawChunk(first.tag, data))
        run.clear()

    for item in instructions:
        match item:
            case Text(text="") | WriteChunk(data=b"") | RawChunk(data=b""):
                continue
            case Text() | WriteChunk() | RawChunk():
                if run and not _same_run(run[0], item):
                    flush()
                run.append(item)  # type: ignore[arg-type]
            case _:
                flush()
                merged.append(item)
    flush()
    return merged


def _same_run(first: Instruction, item: Instruction) -> bool:
    if isinstance(first, RawChunk) and isinstance(item, RawChunk):
        return first.tag == item.tag
    return type(first) is type(item)


# -- trusted constructors -------------------------------------------------------------------------
# A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` and
# then runs ``__post_init__``: about 0.3-0.7 µs per value, which dominates a tag-dense stream. The
# parser builds values whose invariants it has already established (non-empty names, ``bytes``
# data, valid positions, a fresh attribute dict nobody else holds), so these fill the slots
# directly. The values are indistinguishable from the public constructors' (same type, fields,
# equality, hashing and immutability; tested). Callers outside the parser use the classes.

_new: Callable[[type[Any]], Any] = object.__new__


def _setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    setter: Callable[[Any, Any], None] = vars(cls)[name].__set__
    return setter


_SET_LINE = _setter(Position, "line")
_SET_COLUMN = _setter(Position, "column")
_SET_OFFSET = _setter(Position, "offset")
_SET_TEXT = _setter(Text, "text")
_SET_END_NAME = _setter(EndTag, "name")
_SET_START_NAME = _setter(StartTag, "name")
_SET_ATTRIBUTES = _setter(StartTag, "attributes")
_SET_POSITION = _setter(StartTag, "position")
_SET_WRITE_DATA = _setter(WriteChunk, "data")
_SET_RAW_TAG = _setter(RawChunk, "tag")
_SET_RAW_DATA = _setter(RawChunk, "data")


def trusted_position(line: int, column: int, offset: int) -> Position:
    """``Position(line, column, offset)`` for counts the parser made (all valid)."""
    value: Position = _new(Position)
    _SET_LINE(value, line)
    _SET_COLUMN(value, column)
    _SET_OFFSET(value, offset)
    return value


def trusted_text(text: str) -> Text:
    """``Text(text)``."""
    value: Text = _new(Text)
    _SET_TEXT(value, text)
    return value


def trusted_end_tag(name: str) -> EndTag:
    """``EndTag(name)`` for a name the parser matched (never empty)."""
    value: EndTag = _new(EndTag)
    _SET_END_NAME(value, name)
    return value


def trusted_start_tag(name: str, attributes: dict[str, str], position: Position) -> StartTag:
    """``StartTag(name, attributes, position)``; takes ownership of the fresh ``attributes``
    dict instead of copying it (the caller must not keep or change it).
    """
    value: StartTag = _new(StartTag)
    _SET_START_NAME(value, name)
    _SET_ATTRIBUTES(value, MappingProxyType(attributes))
    _SET_POSITION(value, position)
    return value


def trusted_start_tag_at(
    name: str, attributes: dict[str, str], line: int, column: int, offset: int
) -> StartTag:
    """``trusted_start_tag`` with its ``trusted_position``, in one call (the tag-dense path)."""
    position: Position = _new(Position)
    _SET_LINE(position, line)
    _SET_COLUMN(position, column)
    _SET_OFFSET(position, offset)
    value: StartTag = _new(StartTag)
    _SET_START_NAME(value, name)
    _SET_ATTRIBUTES(value, MappingProxyType(attributes))
    _SET_POSITION(value, position)
    return value


def trusted_write_chunk(data: bytes) -> WriteChunk:
    """``WriteChunk(data)`` for ``data`` of type ``bytes``."""
    value: WriteChunk = _new(WriteChunk)
    _SET_WRITE_DATA(value, data)
    return value


def trusted_raw_chunk(tag: str, data: bytes) -> RawChunk:
    """``RawChunk(tag, data)`` for ``data`` of type ``bytes``."""
    value: RawChunk = _new(RawChunk)
    _SET_RAW_TAG(value, tag)
    _SET_RAW_DATA(value, data)
    return value
