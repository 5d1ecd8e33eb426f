"""The parser's states, its one transition table (STYLE habit 2), and what it knows of tags.

The parser keeps a stack of open tags (``Frame``); the state says what kind of bytes come next.
Only ``ParserCore._enter`` assigns the state, and only along an edge listed here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sa3p_parser._instructions import EndTag, Position, RawChunk, WriteChunk

__all__ = ["TEXT_STATES", "TRANSITIONS", "BodyKind", "Frame", "State", "TagInfo", "TagRole"]


class State(enum.Enum):
    """What the next bytes are."""

    TEXT = enum.auto()
    """Top-level prose: tags may be commands; markdown code is tracked."""
    COMMAND_BODY = enum.auto()
    """Inside a non-raw, non-container command (read_file…): text, its close tag."""
    CONTAINER_BODY = enum.auto()
    """Inside a container (apply_edit): byte-exact text, its children, CDATA, its close tag."""
    CONTAINER_CDATA = enum.auto()
    """Inside a CDATA section of a container's text: everything up to ``]]>`` is text."""
    RAW_START = enum.auto()
    """Right after a raw start tag: one newline to drop, maybe ``<![CDATA[``."""
    RAW_BODY = enum.auto()
    """Inside a raw body: bytes up to the exact close tag."""
    RAW_CDATA = enum.auto()
    """Inside a CDATA-wrapped raw body: bytes up to ``]]>`` + the close tag."""
    SKIPPED_BODY = enum.auto()
    """Inside the body of a malformed raw or container tag: passed through as text, not run."""
    FINISHED = enum.auto()
    """``finish()`` was called."""


TEXT_STATES = frozenset({State.TEXT, State.COMMAND_BODY, State.CONTAINER_BODY})
"""The states whose bytes are text with tags in it (decoded a window at a time)."""


class BodyKind(enum.Enum):
    """How an open tag's body is parsed: the state its body starts in."""

    PLAIN = State.COMMAND_BODY
    CONTAINER = State.CONTAINER_BODY
    RAW = State.RAW_START
    SKIPPED = State.SKIPPED_BODY


class TagRole(enum.Enum):
    """What a start tag of a known name does in a text state (any other tag is text)."""

    START = enum.auto()
    """It starts: a command at the top level, a child (search/replace) in its container."""
    NESTED = enum.auto()
    """A command inside an unclosed non-raw command: the open command is abandoned."""


@dataclass(frozen=True, slots=True)
class TagInfo:
    """What the parser knows of one command or child tag name, built once per parser."""

    name: str
    close: bytes
    """``b"</name"``: how its close tag starts."""
    kind: BodyKind
    end: EndTag
    """Its ``EndTag`` (values are immutable, so one is shared)."""
    chunk: Callable[[bytes], RawChunk | WriteChunk]
    """Builds a piece of its raw body."""


@dataclass(frozen=True, slots=True)
class Frame:
    """An open tag: what it is, how its body is parsed, and where it opened."""

    tag: TagInfo
    kind: BodyKind
    opened: Position


_BODIES = frozenset({State.COMMAND_BODY, State.CONTAINER_BODY, State.RAW_START, State.SKIPPED_BODY})
_EDGES: dict[State, frozenset[State]] = {
    State.TEXT: _BODIES | {State.FINISHED},
    State.COMMAND_BODY: _BODIES | {State.TEXT, State.FINISHED},
    State.CONTAINER_BODY: _BODIES | {State.TEXT, State.CONTAINER_CDATA, State.FINISHED},
    State.CONTAINER_CDATA: frozenset({State.CONTAINER_BODY, State.FINISHED}),
    State.RAW_START: frozenset({State.RAW_BODY, State.RAW_CDATA, State.FINISHED}),
    State.RAW_BODY: frozenset({State.TEXT, State.CONTAINER_BODY, State.FINISHED}),
    State.RAW_CDATA: frozenset({State.TEXT, State.CONTAINER_BODY, State.FINISHED}),
    State.SKIPPED_BODY: frozenset({State.TEXT, State.CONTAINER_BODY, State.FINISHED}),
    State.FINISHED: frozenset(),
}
TRANSITIONS: Mapping[State, frozenset[State]] = MappingProxyType(_EDGES)
"""For each state, the states it may move to. Anything else is a bug in the parser."""
