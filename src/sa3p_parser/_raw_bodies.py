"""Where a raw body ends: pure functions over bytes (raw bodies are never decoded).

A raw body ends only at its exact close tag, ``</name`` then optional whitespace then ``>``, or,
when it opens with ``<![CDATA[``, at ``]]>`` followed by an optional newline and that close tag.
Every function looks at ``buf[start:end]`` only and answers "not decidable yet" only while the
bytes seen so far could still become the terminator, so one-byte feeding stays linear and
chunking never changes a decision (issue rule 3). The searches are ``bytes.find``/``rfind``
(memchr): a body chunk without ``<`` costs one scan at memory speed.
"""

from __future__ import annotations

from collections.abc import Callable

from sa3p_parser._tag_grammar import CLOSE_TAG_TAIL_BYTES

__all__ = [
    "CDATA_OPEN",
    "close_tag_end",
    "find_cdata_end",
    "find_raw_end",
    "held_back_prefix",
    "raw_body_start",
]

CDATA_OPEN = b"<![CDATA["
_CDATA_CLOSE = b"]]>"


def close_tag_end(buf: bytes | bytearray, after: int, end: int, limit: int, final: bool) -> int:
    """After ``</name`` at ``after``: the offset just past ``[ \\t\\r\\n]*>``.

    Returns ``-1`` if it is not a close tag, ``-2`` while only whitespace has arrived (bounded by
    ``limit``: more whitespace than that is not a close tag).
    """
    blank = CLOSE_TAG_TAIL_BYTES.match(buf, after, min(end, after + limit)).end()  # type: ignore[union-attr]
    if blank < end and buf[blank] == 0x3E:
        return blank + 1
    if blank >= end and not final and blank - after < limit:
        return -2
    return -1


def held_back_prefix(buf: bytes | bytearray, start: int, end: int, token: bytes) -> int:
    """Where a suffix of ``buf[start:end]`` that is a proper prefix of ``token`` begins.

    ``token`` starts with a byte that occurs in it only once (``<`` or ``]``), so only the last
    occurrence of that byte can start such a suffix. Returns ``end`` if there is none.
    """
    candidate = buf.rfind(token[:1], max(start, end - len(token) + 1), end)
    if candidate != -1 and token.startswith(buf[candidate:end]):
        return candidate
    return end


def find_raw_end(
    buf: bytes | bytearray, start: int, end: int, close: bytes, *, limit: int, final: bool
) -> tuple[int, int]:
    """Find the end of a raw body whose close tag starts with ``close`` (``b"</name"``).

    Returns ``(content_end, resume)``: ``buf[start:content_end]`` is body content that can be
    emitted now; ``resume`` is the offset after the close tag, or ``-1`` if the body goes on
    and ``buf[content_end:end]`` (a possible start of the close tag) must be held back.
    """
    if buf.find(b"<", start, end) == -1:  # memchr: most body chunks have no '<' at all
        return end, -1
    found = _find_terminator(
        buf, start, end, close, lambda after: close_tag_end(buf, after, end, limit, final)
    )
    if found[1] != -1 or found[0] != end or final:
        return found
    return held_back_prefix(buf, start, end, close), -1


def find_cdata_end(
    buf: bytes | bytearray, start: int, end: int, close: bytes, *, limit: int, final: bool
) -> tuple[int, int]:
    """Like ``find_raw_end`` for a CDATA-wrapped body: it ends at ``]]>``, an optional newline,
    then the close tag. A ``]]>`` followed by anything else is content.
    """
    found = _find_terminator(
        buf,
        start,
        end,
        _CDATA_CLOSE,
        lambda after: _cdata_tail(buf, after, end, close, limit=limit, final=final),
    )
    if found[1] != -1 or found[0] != end or final:
        return found
    return _held_back_cdata_close(buf, start, end), -1


def _find_terminator(
    buf: bytes | bytearray, start: int, end: int, marker: bytes, tail: Callable[[int], int]
) -> tuple[int, int]:
    """The first ``marker`` whose ``tail`` (called with the offset after it) is not ``-1``.

    Returns ``(marker offset, tail's offset)``, ``(marker offset, -1)`` if its tail is still
    undecided (``-2``), or ``(end, -1)`` if there is none.
    """
    found = buf.find(marker, start, end)
    while found != -1:
        after = tail(found + len(marker))
        if after != -1:
            return found, max(after, -1)
        found = buf.find(marker, found + 1, end)
    return end, -1


def _held_back_cdata_close(buf: bytes | bytearray, start: int, end: int) -> int:
    """Where a trailing ``]]`` or ``]`` (a possible start of ``]]>``) begins, else ``end``."""
    for length in (2, 1):
        if end - length >= start and buf[end - length : end] == _CDATA_CLOSE[:length]:
            return end - length
    return end


def _cdata_tail(
    buf: bytes | bytearray, position: int, end: int, close: bytes, *, limit: int, final: bool
) -> int:
    """After ``]]>``: past an optional newline and the close tag; ``-1`` no, ``-2`` undecided."""
    if position < end and buf[position] == 0x0A:
        position += 1
    elif position < end and buf[position] == 0x0D:
        if position + 1 >= end:
            return -2 if not final else -1
        if buf[position + 1] != 0x0A:
            return -1
        position += 2
    seen = buf[position : min(end, position + len(close))]
    if not close.startswith(seen):
        return -1
    if len(seen) < len(close):
        return -2 if not final else -1
    return close_tag_end(buf, position + len(close), end, limit, final)


def raw_body_start(
    buf: bytes | bytearray, start: int, end: int, final: bool
) -> tuple[int, bool] | None:
    """Where a raw body's content starts: after one dropped newline (as HTML drops it after
    ``<pre>``) and, if the body opens with ``<![CDATA[``, after that marker (then the second
    value is ``True``).

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
