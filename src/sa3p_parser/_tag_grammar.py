"""The tag grammar, written once: names, attributes, start tags, close tags (XML 1.0, section 3.1).

Every recogniser the parser uses is compiled from the pattern sources in this module. Start tags
and close tags in text are recognised in decoded text (``str``); the close tag of a raw body is
looked for in bytes, with the same whitespace rule (``CLOSE_TAG_TAIL``). A start tag with
well-formed, distinct attributes is recognised by one match of ``START_TAG``, which also
captures its first ``CAPTURED_ATTRIBUTES`` attributes, so the common tag costs a single ``re``
call; the functions below only explain, for a problem report, why a tag did *not* match.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

__all__ = [
    "ATTRIBUTE_GROUPS",
    "CAPTURED_ATTRIBUTES",
    "CLOSE_TAG_TAIL",
    "CLOSE_TAG_TAIL_BYTES",
    "START_TAG",
    "START_TAG_GROUPS",
    "TAG_OPENING",
    "Extent",
    "attributes_of",
    "decode_entities",
    "malformed_reason",
    "start_tag_token",
    "tag_extent",
]

WHITESPACE = "[ \t\r\n]"
"""XML's ``S``: the whitespace allowed around attributes, ``=`` and before ``>``."""
NAME = "[A-Za-z_:][-A-Za-z0-9_:.]*+"
"""A tag or attribute name (XML's ``Name``, restricted to ASCII)."""
_VALUE_BODY = """(?<=")[^"<]*+|(?<=')[^'<]*+"""
"""A value's characters after its opening quote: as in XML, never ``<`` nor that quote."""

CAPTURED_ATTRIBUTES = 4
"""How many attributes ``START_TAG`` captures in groups of their own; more go to one group."""


def _group(source: str, capture: bool) -> str:
    return f"({source})" if capture else f"(?:{source})"


def _attribute(capture: bool) -> str:
    """One attribute, with its leading whitespace: ``name="value"`` or ``name='value'``."""
    name, body = _group(NAME, capture), _group(_VALUE_BODY, capture)
    return f"""{WHITESPACE}++{name}{WHITESPACE}*+={WHITESPACE}*+["']{body}["']"""


def _start_tag() -> str:
    """``<name`` + attributes + ``/?>``; groups: name, (attribute name, value) x
    ``CAPTURED_ATTRIBUTES``, the raw further attributes, ``/`` of a self-closing tag.
    """
    attributes = f"((?:{_attribute(False)})*+)"
    for _ in range(CAPTURED_ATTRIBUTES):
        attributes = f"(?:{_attribute(True)}{attributes})?+"
    return f"<({NAME}){attributes}{WHITESPACE}*+(/?)>"


START_TAG_SOURCE = _start_tag()
START_TAG = re.compile(START_TAG_SOURCE)
"""A complete start tag with well-formed attributes (``attributes_of`` checks for duplicates)."""
START_TAG_GROUPS = 2 * CAPTURED_ATTRIBUTES + 3
"""The number of groups of ``START_TAG``."""
ATTRIBUTE_GROUPS = 1
"""The index of the first attribute name in a ``START_TAG`` match's ``groups()``."""
TAG_OPENING = re.compile(f"<(/?)({NAME})")
"""``<name`` or ``</name``, possibly cut by the end of the text."""
CLOSE_TAG_TAIL = re.compile(f"{WHITESPACE}*+")
"""What may stand between a close tag's name and its ``>``; the ``>`` itself is checked apart."""
CLOSE_TAG_TAIL_BYTES = re.compile(CLOSE_TAG_TAIL.pattern.encode())
_ATTRIBUTE = re.compile(_attribute(True))
_ATTRIBUTES = re.compile(f"(?:{_attribute(False)})*+")
_EXTENT = re.compile("""(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+""")
_UNQUOTED = re.compile(f"{WHITESPACE}+({NAME}){WHITESPACE}*={WHITESPACE}*[^\"'\\s]")
_NO_VALUE = re.compile(f"{WHITESPACE}+({NAME})")
_TAG_END = re.compile(f"{WHITESPACE}*/?>")
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6})|(amp|lt|gt|quot|apos));")
_NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def start_tag_token(text_source: str) -> re.Pattern[str]:
    """A pattern for text matching ``text_source`` (group 1), then optionally a complete start
    tag (the groups of ``START_TAG``, shifted by one): a run of text and the tag after it in a
    single ``re`` call. Without the tag, group 1 ends where something else must decide.
    """
    return re.compile(f"({text_source})(?:{START_TAG_SOURCE})?+")


_CAPTURED_PAIRS = {
    first: tuple((index, index + 1) for index in range(first, first + 2 * CAPTURED_ATTRIBUTES, 2))
    for first in (ATTRIBUTE_GROUPS, ATTRIBUTE_GROUPS + 1)
}
"""The (name, value) group indexes of ``START_TAG`` alone and after a text group."""


def attributes_of(
    groups: Sequence[str | None], first: int, entities: bool
) -> dict[str, str] | None:
    """The attributes of a ``START_TAG`` match; ``None`` if a name repeats (XML 1.0, 3.1).

    Args:
        groups: the match's ``groups()``.
        first: the index of the first attribute name in ``groups``.
        entities: whether the tag contains ``&`` (then values are entity-decoded).
    """
    attributes: dict[str, str] = {}
    for name_index, value_index in _CAPTURED_PAIRS[first]:
        name = groups[name_index]
        if name is None:
            break
        if name in attributes:
            return None
        attributes[name] = groups[value_index]  # type: ignore[assignment]
    else:
        for name, value in _ATTRIBUTE.findall(groups[first + 2 * CAPTURED_ATTRIBUTES] or ""):
            if name in attributes:
                return None
            attributes[name] = value
    if entities:
        return {name: decode_entities(value) for name, value in attributes.items()}
    return attributes


def decode_entities(value: str) -> str:
    """Decode XML's predefined entities and character references in an attribute value.

    An unknown entity or an out-of-range reference is left literal (nothing is lost).
    """
    return _ENTITY.sub(_entity, value) if "&" in value else value


def _entity(match: re.Match[str]) -> str:
    decimal, hexadecimal, named = match.groups()
    if named is not None:
        return _NAMED_ENTITIES[named]
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group()
    return chr(code)


class Extent(enum.Enum):
    """What ends a start tag that ``START_TAG`` did not match (``tag_extent``)."""

    GREATER = enum.auto()
    """A ``>`` outside quotes: the tag is complete but malformed (or too long)."""
    LESS = enum.auto()
    """A ``<`` before the tag's ``>``: the bytes before it are text."""
    OPEN_QUOTE = enum.auto()
    """A quote that is not closed before a later ``<`` (at the returned index)."""
    END = enum.auto()
    """The end of the text: the tag may go on."""


def tag_extent(text: str, name_end: int) -> tuple[Extent, int]:
    """Where the start tag whose name ends at ``name_end`` ends, and how.

    Values may hold ``>`` but never ``<`` (XML 1.0, AttValue), so a quote decides which ``>``
    ends the tag. Returns the kind of ending and the index of its ``>`` or ``<`` (the end of
    ``text`` for ``END``).
    """
    stop = _EXTENT.match(text, name_end).end()  # type: ignore[union-attr]
    if stop == len(text):
        return Extent.END, stop
    char = text[stop]
    if char == ">":
        return Extent.GREATER, stop
    if char == "<":
        return Extent.LESS, stop
    other = text.find("<", stop + 1)
    return (Extent.OPEN_QUOTE, other) if other != -1 else (Extent.END, len(text))


def malformed_reason(text: str, name_end: int, stop: int) -> str:
    """Why the start tag whose name ends at ``name_end`` and whose ``>`` ends just before
    ``stop`` is malformed (for the problem's message).
    """
    position = _ATTRIBUTES.match(text, name_end, stop).end()  # type: ignore[union-attr]
    if _TAG_END.fullmatch(text, position, stop):
        names = [name for name, _ in _ATTRIBUTE.findall(text, name_end, stop)]
        repeated = next(name for index, name in enumerate(names) if name in names[:index])
        return f"duplicate attribute {repeated!r}"
    unquoted = _UNQUOTED.match(text, position, stop)
    if unquoted is not None:
        return f"attribute {unquoted.group(1)!r} has an unquoted value"
    bare = _NO_VALUE.match(text, position, stop)
    if bare is not None:
        return f"attribute {bare.group(1)!r} has no '=\"value\"'"
    if position < stop and text[position] not in " \t\r\n":
        return "no whitespace before an attribute"
    garbage = text[position:stop].strip()[:20]
    return f"unexpected {garbage!r} in the tag"
