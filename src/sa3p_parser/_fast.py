"""Constructors for the parser's hot path that skip re-validating what the parser guarantees.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` and
then runs ``__post_init__``: about 0.2-0.7 µs per value, which dominates a tag-dense stream. The
parser builds values whose invariants it has already established (non-empty ASCII names, bytes
data, valid positions, a fresh attribute dict nobody else holds), so these functions fill the
slots directly. The values are indistinguishable from ones built by the public constructors:
same type, fields, equality, hashing and immutability (tests compare the two).
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from sa3p_parser._instructions import EndTag, Position, RawChunk, StartTag, Text, WriteChunk

__all__ = [
    "new_end_tag",
    "new_position",
    "new_raw_chunk",
    "new_start_tag",
    "new_text",
    "new_write_chunk",
]

_new: Callable[[type[Any]], Any] = object.__new__


def _slot(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    setter: Callable[[Any, Any], None] = vars(cls)[name].__set__
    return setter


_POSITION = (_slot(Position, "line"), _slot(Position, "column"), _slot(Position, "offset"))
_TEXT = _slot(Text, "text")
_END_TAG = _slot(EndTag, "name")
_WRITE_DATA = _slot(WriteChunk, "data")
_RAW = (_slot(RawChunk, "tag"), _slot(RawChunk, "data"))
_START = (_slot(StartTag, "name"), _slot(StartTag, "attributes"), _slot(StartTag, "position"))


def new_position(line: int, column: int, offset: int) -> Position:
    """``Position(line, column, offset)`` for values the line counter produced (all valid)."""
    value: Position = _new(Position)
    set_line, set_column, set_offset = _POSITION
    set_line(value, line)
    set_column(value, column)
    set_offset(value, offset)
    return value


def new_text(text: str) -> Text:
    """``Text(text)``."""
    value: Text = _new(Text)
    _TEXT(value, text)
    return value


def new_end_tag(name: str) -> EndTag:
    """``EndTag(name)`` for a name the parser matched (never empty)."""
    value: EndTag = _new(EndTag)
    _END_TAG(value, name)
    return value


def new_write_chunk(data: bytes) -> WriteChunk:
    """``WriteChunk(data)`` for ``data`` of type ``bytes``."""
    value: WriteChunk = _new(WriteChunk)
    _WRITE_DATA(value, data)
    return value


def new_raw_chunk(tag: str, data: bytes) -> RawChunk:
    """``RawChunk(tag, data)`` for ``data`` of type ``bytes``."""
    value: RawChunk = _new(RawChunk)
    set_tag, set_data = _RAW
    set_tag(value, tag)
    set_data(value, data)
    return value


def new_start_tag(name: str, attributes: dict[str, str], position: Position) -> StartTag:
    """``StartTag(name, attributes, position)``; takes ownership of the fresh ``attributes``
    dict instead of copying it (the caller must not keep or change it).
    """
    value: StartTag = _new(StartTag)
    set_name, set_attributes, set_position = _START
    set_name(value, name)
    set_attributes(value, MappingProxyType(attributes))
    set_position(value, position)
    return value
