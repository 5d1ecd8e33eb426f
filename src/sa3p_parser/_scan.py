"""Pure functions that recognise tags and body terminators in a byte buffer.

Every function looks at ``buf[start:end]`` only, never before ``start``, and answers ``None``
("not decidable yet, feed more") only while the bytes seen so far could still become the token;
the wait is bounded by ``limit`` bytes, so one-byte feeding stays linear. Decisions depend on the
bytes alone, never on where a chunk ended (issue rule 3).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "CDATA_OPEN",
    "NameScan",
    "SimpleTag",
    "TagScan",
    "TagVerdict",
    "close_tag_end",
    "command_run_pattern",
    "decode_value",
    "find_cdata_end",
    "find_raw_end",
    "held_back_prefix",
    "match_simple_tag",
    "raw_body_start",
    "scan_name",
    "scan_open_tag",
    "simple_attributes",
]

CDATA_OPEN = b"<![CDATA["

_NAME = re.compile(rb"[A-Za-z_:][-A-Za-z0-9_:.]*")
_TAG_REST = re.compile(rb"""(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+""")
_ATTRIBUTE = re.compile(
    rb"""[ \t\r\n]+([A-Za-z_:][-A-Za-z0-9_:.]*)[ \t\r\n]*=[ \t\r\n]*(?:"([^"<]*)"|'([^'<]*)')"""
)
_SIMPLE_TAG_REST = (
    rb"((?:[ \t\r\n]++[A-Za-z_:][-A-Za-z0-9_:.]*+[ \t\r\n]*+=[ \t\r\n]*+"
    rb"""(?:"[^"<]*+"|'[^'<]*+'))*+)[ \t\r\n]*+(/?)>"""
)
_SIMPLE_TAG = re.compile(rb"<([A-Za-z_:][-A-Za-z0-9_:.]*+)" + _SIMPLE_TAG_REST)
_NAME_PADDING = " \t\r\n="
_SIMPLE_ATTRIBUTE = re.compile(
    rb"""([A-Za-z_:][-A-Za-z0-9_:.]*)[ \t\r\n]*=[ \t\r\n]*(?:"([^"<]*)"|'([^'<]*)')"""
)
_TAG_END = re.compile(rb"[ \t\r\n]*(/?)>")
_UNQUOTED = re.compile(rb"[ \t\r\n]+([A-Za-z_:][-A-Za-z0-9_:.]*)[ \t\r\n]*=[ \t\r\n]*[^\"'\s]")
_NO_VALUE = re.compile(rb"[ \t\r\n]+([A-Za-z_:][-A-Za-z0-9_:.]*)")
_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6})|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_DELIMITERS = frozenset(b" \t\r\n/>")


@dataclass(frozen=True, slots=True)
class NameScan:
    """``<name`` or ``</name`` at a ``<``: the name and where it ends."""

    name: str
    closing: bool
    name_end: int


class TagVerdict(enum.Enum):
    """What a complete look at a command tag found."""

    OPEN = "open"
    """A well-formed tag; ``attributes`` and ``self_closing`` are set."""
    MALFORMED = "malformed"
    """A tag ended by ``>`` whose attributes do not parse; not run."""
    BROKEN = "broken"
    """A ``<`` inside the tag, before any ``>``; the bytes up to it are text."""
    UNTERMINATED = "unterminated"
    """No ``>`` within the bounded tag length (or before the stream ended)."""


@dataclass(frozen=True, slots=True)
class TagScan:
    """The result of ``scan_open_tag``. ``stop`` is where the caller resumes."""

    verdict: TagVerdict
    stop: int
    attributes: dict[str, str] = field(default_factory=dict)
    self_closing: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SimpleTag:
    """A complete, well-formed start tag found in one regular-expression match."""

    name: bytes
    attributes: dict[str, str]
    self_closing: bool
    stop: int


def match_simple_tag(buf: bytearray, start: int, end: int, limit: int) -> SimpleTag | None:
    """The common case in one step: a complete start tag with well-formed, distinct attributes.

    ``None`` means "use the general path" (incomplete, malformed, too long, or not a tag).
    """
    match = _SIMPLE_TAG.match(buf, start, min(end, start + limit))
    if match is None:
        return None
    name, raw, slash = match.groups()
    attributes = simple_attributes(raw) if raw else {}
    if attributes is None:
        return None
    return SimpleTag(name, attributes, slash == b"/", match.end())


def simple_attributes(raw: bytes) -> dict[str, str] | None:
    """Attributes of a tag ``_SIMPLE_TAG`` accepted; ``None`` if a name repeats."""
    if b"'" in raw or b"&" in raw:
        found = _SIMPLE_ATTRIBUTE.findall(raw)
        attributes = {name.decode("ascii"): decode_value(dq + sq) for name, dq, sq in found}
        return attributes if len(attributes) == len(found) else None
    # Only double quotes and no entities: the quotes alternate "whitespace name = " and values,
    # and neither contains a '"', so one split finds them all (names are ASCII: decoding the
    # whole string decodes each value as it would alone).
    parts = raw.decode("utf-8", "replace").split('"')
    pairs = zip(parts[0::2], parts[1::2], strict=False)  # the last part is trailing whitespace
    attributes = {name.strip(_NAME_PADDING): value for name, value in pairs}
    return attributes if len(attributes) * 2 + 1 == len(parts) else None


def command_run_pattern(names: Iterable[str]) -> re.Pattern[bytes]:
    """A pattern for top-level text up to a complete, simple start tag of one of ``names``.

    Group 1 is the text (it contains no ``<`` that could start one of these tags or their close
    tags), group 2 the name, group 3 the raw attributes, group 4 ``/`` for a self-closing tag.
    The pattern always matches; without group 2, group 1 ends where the general path must take
    over (at a ``<`` that may matter, or at the end). The pattern never decides anything the
    general path would decide differently.
    """
    alternatives = b"|".join(re.escape(name.encode()) for name in sorted(names, key=_longest_first))
    return re.compile(
        rb"((?:[^<]++|<(?!/?(?:" + alternatives + rb")[ \t\r\n/>]))*+)"
        rb"(?:<(" + alternatives + rb")" + _SIMPLE_TAG_REST + rb")?"
    )


def _longest_first(name: str) -> tuple[int, str]:
    return -len(name), name


def scan_name(buf: bytearray, start: int, end: int, longest: int, final: bool) -> NameScan | None:
    """Read the tag name after the ``<`` at ``start``.

    Returns ``None`` if more bytes are needed. A name longer than ``longest`` (no tag of interest
    is that long) or not followed by whitespace, ``/`` or ``>`` gives an empty name: not a tag.
    """
    position = start + 1
    closing = position < end and buf[position] == 0x2F
    if closing:
        position += 1
    if position >= end:
        return None if not final else NameScan("", closing, position)
    match = _NAME.match(buf, position, min(end, position + longest + 1))
    if match is None:
        return NameScan("", closing, position)
    name_end = match.end()
    if name_end - position > longest:
        return NameScan("", closing, name_end)
    if name_end >= end:
        return None if not final else NameScan("", closing, name_end)
    if buf[name_end] not in _DELIMITERS or (closing and buf[name_end] == 0x2F):
        return NameScan("", closing, name_end)
    return NameScan(match.group().decode("ascii"), closing, name_end)


def close_tag_end(buf: bytearray, after: int, end: int, limit: int, final: bool) -> int | None:
    """After ``</name``: the offset just past ``[ \\t\\r\\n]*>``, ``-1`` if it is not a close tag.

    ``None`` while only whitespace has arrived (bounded by ``limit``).
    """
    blank = _match_end(_WHITESPACE, buf, after, min(end, after + limit))
    if blank < end and buf[blank] == 0x3E:
        return blank + 1
    if blank >= end and not final and blank - after < limit:
        return None
    return -1


def scan_open_tag(
    buf: bytearray, start: int, name_end: int, end: int, *, limit: int, final: bool
) -> TagScan | None:
    """Scan a command's start tag from ``start`` (its ``<``) to its ``>``.

    Returns ``None`` if more bytes are needed, which happens only while the tag is shorter
    than ``limit`` bytes.
    """
    window = min(end, start + limit)
    stop = _match_end(_TAG_REST, buf, name_end, window)
    if stop < window:
        char = buf[stop]
        if char == 0x3E:
            return _parse_attributes(buf, name_end, stop + 1)
        if char == 0x3C:
            return TagScan(TagVerdict.BROKEN, stop, reason="'<' before the tag's '>'")
        other = buf.find(b"<", stop + 1, window)
        if other != -1:
            return TagScan(
                TagVerdict.BROKEN, other, reason="a quoted value is not closed before a '<'"
            )
    if window - start >= limit or final:
        return TagScan(TagVerdict.UNTERMINATED, start + 1)
    return None


def _parse_attributes(buf: bytearray, position: int, stop: int) -> TagScan:
    attributes: dict[str, str] = {}
    while True:
        tail = _TAG_END.fullmatch(buf, position, stop)
        if tail is not None:
            closing = tail.group(1) == b"/"
            return TagScan(TagVerdict.OPEN, stop, attributes, self_closing=closing)
        match = _ATTRIBUTE.match(buf, position, stop)
        if match is None:
            return TagScan(TagVerdict.MALFORMED, stop, reason=_what_is_wrong(buf, position, stop))
        name = match.group(1).decode("ascii")
        if name in attributes:
            return TagScan(TagVerdict.MALFORMED, stop, reason=f"duplicate attribute {name!r}")
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        attributes[name] = decode_value(raw)
        position = match.end()


def _what_is_wrong(buf: bytearray, position: int, stop: int) -> str:
    unquoted = _UNQUOTED.match(buf, position, stop)
    if unquoted is not None:
        return f"attribute {unquoted.group(1).decode('ascii')!r} has an unquoted value"
    bare = _NO_VALUE.match(buf, position, stop)
    if bare is not None:
        return f"attribute {bare.group(1).decode('ascii')!r} has no '=\"value\"'"
    if position < stop and buf[position] not in b" \t\r\n":
        return "no whitespace before an attribute"
    garbage = bytes(buf[position:stop]).strip()[:20].decode("utf-8", "replace")
    return f"unexpected {garbage!r} in the tag"


def _match_end(pattern: re.Pattern[bytes], buf: bytearray, start: int, stop: int) -> int:
    """The end of ``pattern`` (one that matches the empty string) at ``start``."""
    match = pattern.match(buf, start, stop)
    return match.end() if match is not None else start


def decode_value(raw: bytes) -> str:
    """Decode an attribute value: UTF-8, then XML entities and character references.

    An unknown entity or an out-of-range reference is left literal (nothing is lost).
    """
    text = raw.decode("utf-8", "replace")
    return _ENTITY.sub(_entity, text) if "&" in text else text


def _entity(match: re.Match[str]) -> str:
    decimal, hexadecimal, named = match.groups()
    if named is not None:
        return _NAMED[named]
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group()
    return chr(code)


def held_back_prefix(buf: bytes | bytearray, start: int, end: int, token: bytes) -> int:
    """Where a suffix of ``buf[start:end]`` that is a proper prefix of ``token`` begins.

    ``token`` starts with a byte that occurs in it only once (``<`` or ``]``), so only the last
    occurrence of that byte can start such a suffix. Returns ``end`` if there is none.
    """
    first = token[:1]
    candidate = buf.rfind(first, max(start, end - len(token) + 1), end)
    if candidate != -1 and token.startswith(buf[candidate:end]):
        return candidate
    return end


def find_raw_end(
    buf: bytearray, start: int, end: int, close: bytes, *, limit: int, final: bool
) -> tuple[int, int]:
    """Find the end of a raw body whose close tag starts with ``close`` (``b"</name"``).

    Returns ``(content_end, resume)``: ``buf[start:content_end]`` is body content that can be
    emitted now; ``resume`` is the offset after the close tag, or ``-1`` if the body goes on
    and ``buf[content_end:end]`` (a possible start of the close tag) must be held back.
    """
    found = buf.find(close, start)
    while found != -1:
        after = close_tag_end(buf, found + len(close), end, limit, final)
        if after is None:
            return found, -1
        if after >= 0:
            return found, after
        found = buf.find(close, found + 1)
    if final:
        return end, -1
    return held_back_prefix(buf, start, end, close), -1


def find_cdata_end(
    buf: bytearray, start: int, end: int, close: bytes, *, limit: int, final: bool
) -> tuple[int, int]:
    """Like ``find_raw_end`` for a CDATA-wrapped body: it ends at ``]]>``, an optional newline,
    then the close tag. A ``]]>`` followed by anything else is content.
    """
    found = buf.find(b"]]>", start)
    while found != -1:
        after = _cdata_tail(buf, found + 3, end, close, limit=limit, final=final)
        if after is None:
            return found, -1
        if after >= 0:
            return found, after
        found = buf.find(b"]]>", found + 1)
    if final:
        return end, -1
    if buf.endswith(b"]]") and end - 2 >= start:
        return end - 2, -1
    if buf.endswith(b"]") and end - 1 >= start:
        return end - 1, -1
    return end, -1


def _cdata_tail(
    buf: bytearray, position: int, end: int, close: bytes, *, limit: int, final: bool
) -> int | None:
    if position < end and buf[position] == 0x0A:
        position += 1
    elif position < end and buf[position] == 0x0D:
        if position + 1 >= end:
            return None if not final else -1
        if buf[position + 1] != 0x0A:
            return -1
        position += 2
    seen = buf[position : min(end, position + len(close))]
    if not close.startswith(seen):
        return -1
    if len(seen) < len(close):
        return None if not final else -1
    return close_tag_end(buf, position + len(close), end, limit, final)


def raw_body_start(buf: bytearray, start: int, end: int, final: bool) -> tuple[int, bool] | None:
    """Where a raw body's content starts: after one dropped newline and, if the body opens with
    ``<![CDATA[``, after that marker (then the second value is ``True``).

    Returns ``None`` while undecidable (at most 11 bytes).
    """
    position = start
    if position < end and buf[position] == 0x0A:
        position += 1
    elif position < end and buf[position] == 0x0D:
        if position + 1 >= end:
            return None if not final else (position, False)
        if buf[position + 1] == 0x0A:
            position += 2
    elif position >= end:
        return None if not final else (position, False)
    head = buf[position : min(end, position + len(CDATA_OPEN))]
    if head == CDATA_OPEN:
        return position + len(CDATA_OPEN), True
    if CDATA_OPEN.startswith(head) and not final:
        return None
    return position, False
