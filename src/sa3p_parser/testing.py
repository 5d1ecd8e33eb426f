"""Hypothesis strategies for command documents and chunkings, to fuzz parsers and pipelines.

``scripts()`` draws a ``Script``: the bytes of a document (prose with tag-like noise, commands
with attributes, raw bodies containing ``<``, ``&``, near-close-tags and multibyte UTF-8, CDATA
bodies, apply_edit blocks, apply_patch patches, markdown code quoting commands, at the top level
and in block quotes and list items, invalid UTF-8) together with the
instructions ``InstructionParser()`` must produce for it. ``chunkings(data)`` draws a way to
split those bytes. Compare results with ``same_instructions`` (problems are compared by kind and
tag, not by message or position)::

    @given(script=scripts(), data=st.data())
    def test_my_pipeline(script, data):
        chunks = data.draw(chunkings(script.data))
        ...

Requires the ``hypothesis`` package (the ``test`` extra).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from hypothesis import strategies as st

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
    coalesce,
)

__all__ = [
    "Script",
    "chunkings",
    "documents",
    "feed_in_chunks",
    "same_instructions",
    "scripts",
    "split",
]

_ANYWHERE = Position(1, 1, 0)
_PROSE_PIECES = (
    "Hello",
    " ",
    "\n",
    "world",
    "<div>",
    "</p>",
    "<br/>",
    "a < b",
    "x > y",
    "&amp;",
    "&",
    "é",
    "日本",
    "😀",
    "<read_filex>",
    "</unknown>",
    "<<<<",
    "<!-- note -->",
    "  ",
    "\t",
)
_BODY_PIECES = (
    b"plain",
    b" ",
    b"\n",
    b"\r\n",
    b"<",
    b"&amp;",
    b"&lt;",
    b"</write_fil",
    b"</write_file_x>",
    b"</terminal",
    b"</replace>",
    b"]]",
    b"]]>",
    b"<![CDATA[",
    b"\xc3\xa9",
    b"\xe6\x97\xa5",
    b"\xf0\x9f\x98\x80",
    b"    indented",
    b"\t",
    b"<div>",
    b"</search>",
)
_VALUE_PIECES = ("a", "src/x.py", " ", "&", "<", ">", '"', "'", "é", "😀", "\t")
_PATCH_LINES = (
    "-old line\n",
    "+new <b>line</b> & more\n",
    " context\n",
    "+</apply_patc\n",
    "-if a < b:\n",
    "+é 😀\n",
)
_EDIT_TEXT_PIECES = (
    "<<<<<<< SEARCH\n",
    "=======\n",
    ">>>>>>> REPLACE\n",
    "@@ -1,2 +1,2 @@\n",
    "-old\n",
    "+new\n",
    " context\n",
    "<div>",
    "a < b",
    "&amp;",
    "\n",
)


@dataclass(frozen=True, slots=True)
class Script:
    """A document and the instructions ``InstructionParser()`` gives for it (coalesced)."""

    data: bytes
    expected: tuple[Instruction, ...]


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (any order, duplicates allowed)."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    bounds = [0, *points, len(data)]
    return [data[start:stop] for start, stop in itertools.pairwise(bounds)]


@st.composite
def chunkings(draw: st.DrawFn, data: bytes, max_cuts: int = 40) -> list[bytes]:
    """Draw a way to split ``data`` into chunks: random cuts, every byte, or whole."""
    if not data:
        return [data]
    mode = draw(st.sampled_from(["cuts", "bytes", "whole"]))
    if mode == "bytes" and len(data) <= 4096:
        return [data[index : index + 1] for index in range(len(data))]
    if mode == "whole":
        return [data]
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=max_cuts))
    return split(data, cuts)


def feed_in_chunks(parser: object, chunks: Sequence[bytes]) -> list[Instruction]:
    """Feed every chunk to ``parser`` (anything with ``feed``/``finish``) and finish it."""
    out: list[Instruction] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))  # type: ignore[attr-defined]
    out.extend(parser.finish())  # type: ignore[attr-defined]
    return out


def same_instructions(actual: Iterable[Instruction], expected: Iterable[Instruction]) -> bool:
    """Whether two instruction lists agree after ``coalesce``; problems match on kind and tag."""
    return _comparable(actual) == _comparable(expected)


def _comparable(instructions: Iterable[Instruction]) -> list[object]:
    return [
        (item.kind, item.tag) if isinstance(item, ParseProblem) else item
        for item in coalesce(instructions)
    ]


def _problem(kind: ProblemKind, tag: str | None) -> ParseProblem:
    return ParseProblem(kind=kind, message="expected", position=_ANYWHERE, tag=tag)


_Segment = tuple[bytes, list[Instruction]]


@st.composite
def _prose(draw: st.DrawFn) -> _Segment:
    text = "".join(draw(st.lists(st.sampled_from(_PROSE_PIECES), min_size=1, max_size=8)))
    return text.encode(), [Text(text)]


@st.composite
def _attribute_value(draw: st.DrawFn) -> str:
    return "".join(draw(st.lists(st.sampled_from(_VALUE_PIECES), max_size=5)))


@st.composite
def _read_file(draw: st.DrawFn) -> _Segment:
    path = draw(_attribute_value())
    attributes = {"path": path}
    if draw(st.booleans()):
        attributes["start_line"] = str(draw(st.integers(1, 999)))
    spaces = draw(st.sampled_from([" ", "  ", "\n", " \t"]))
    rendered = "".join(
        f"{spaces}{key}{_equals(draw)}{quoteattr(v)}" for key, v in attributes.items()
    )
    closing = draw(st.sampled_from(["/>", " />", "></read_file>", "></read_file >"]))
    data = f"<read_file{rendered}{closing}".encode()
    return data, [StartTag("read_file", attributes), EndTag("read_file")]


def _equals(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["=", " = ", "=\n"]))


def _raw_body(draw: st.DrawFn, close: bytes) -> bytes:
    pieces = draw(st.lists(st.sampled_from(_BODY_PIECES), max_size=10))
    body = b"".join(pieces)
    while close in body or body.startswith(b"<![CDATA["):
        body = body.replace(close, b"</x").replace(b"<![CDATA[", b"<![CDATA")
    return body


@st.composite
def _write_file(draw: st.DrawFn) -> _Segment:
    path = draw(_attribute_value())
    head = f"<write_file path={quoteattr(path)}>".encode()
    if draw(st.booleans()):
        body = _raw_body(draw, b"</write_file")
        lead = draw(st.sampled_from([b"\n", b"\r\n"]))
        data = head + lead + body + b"</write_file>"
    else:
        body = b"".join(draw(st.lists(st.sampled_from(_BODY_PIECES), max_size=10)))
        body = body.replace(b"]]>", b"]] >") + b"</write_file>"
        data = head + b"\n<![CDATA[" + body + b"]]>" + draw(st.sampled_from([b"", b"\n"]))
        data += b"</write_file>"
    expected: list[Instruction] = [StartTag("write_file", {"path": path})]
    expected += [WriteChunk(body)] if body else []
    return data, [*expected, EndTag("write_file")]


@st.composite
def _terminal(draw: st.DrawFn) -> _Segment:
    body = _raw_body(draw, b"</terminal")
    data = b"<terminal>" + body + b"</terminal>"
    if body.startswith((b"\n", b"\r\n")):
        data = b"<terminal>\n" + body + b"</terminal>"
    chunk: list[Instruction] = [RawChunk("terminal", body)] if body else []
    return data, [StartTag("terminal"), *chunk, EndTag("terminal")]


@st.composite
def _apply_edit(draw: st.DrawFn) -> _Segment:
    path = draw(_attribute_value())
    data = f"<apply_edit path={quoteattr(path)}>".encode()
    expected: list[Instruction] = [StartTag("apply_edit", {"path": path})]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            text = "".join(draw(st.lists(st.sampled_from(_EDIT_TEXT_PIECES), max_size=5)))
            data += text.encode()
            expected.append(Text(text))
        else:
            child = draw(st.sampled_from(["search", "replace"]))
            body = _raw_body(draw, f"</{child}".encode())
            data += f"<{child}>\n".encode() + body + f"</{child}>".encode()
            chunk: list[Instruction] = [RawChunk(child, body)] if body else []
            expected += [StartTag(child), *chunk, EndTag(child)]
    return data + b"</apply_edit>", [*expected, EndTag("apply_edit")]


@st.composite
def _quoted(draw: st.DrawFn) -> _Segment:
    command = '<read_file path="quoted.txt"/>'
    quoted = _problem(ProblemKind.QUOTED_COMMAND, "read_file")
    if draw(st.booleans()):
        before, after = " `", f"{command}` "
        return (before + after).encode(), [Text(before), quoted, Text(after)]
    fence = draw(st.sampled_from(["```", "~~~", "````"]))
    # A fence at the top level, in a block quote, or in a list item (its lines indented).
    opener, inner = draw(st.sampled_from([("", ""), ("> ", "> "), ("- ", "  "), ("1. ", "   ")]))
    before, middle, after = (
        f"\n\n{opener}{fence}python\n{inner}",
        f"{command}\n{inner}",
        f"<terminal>ls</terminal>\n{inner}{fence}\n\n",
    )
    terminal = _problem(ProblemKind.QUOTED_COMMAND, "terminal")
    data = (before + middle + after).encode()
    return data, [Text(before), quoted, Text(middle), terminal, Text(after)]


@st.composite
def _apply_patch(draw: st.DrawFn) -> _Segment:
    changes = draw(st.lists(st.sampled_from(_PATCH_LINES), max_size=6))
    body = ("*** Begin Patch\n*** Update File: src/a.py\n@@\n" + "".join(changes)).encode()
    body += b"*** End Patch\n"
    data = b"<apply_patch>\n" + body + b"</apply_patch>"
    return data, [StartTag("apply_patch"), RawChunk("apply_patch", body), EndTag("apply_patch")]


@st.composite
def _oddity(draw: st.DrawFn) -> _Segment:
    kind = draw(st.sampled_from(["close", "invalid", "malformed"]))
    if kind == "close":
        problem = _problem(ProblemKind.UNEXPECTED_CLOSE, "terminal")
        return b"</terminal>", [problem, Text("</terminal>")]
    if kind == "invalid":
        return b"x\xffy", [Text("x"), _problem(ProblemKind.INVALID_UTF8, None), Text("\ufffdy")]
    tag = "<read_file path=unquoted/>"
    return tag.encode(), [_problem(ProblemKind.MALFORMED_TAG, "read_file"), Text(tag)]


@st.composite
def scripts(draw: st.DrawFn, max_segments: int = 8) -> Script:
    """Draw a ``Script``: a command document with its expected instructions."""
    kinds = st.one_of(
        _prose(),
        _read_file(),
        _write_file(),
        _terminal(),
        _apply_edit(),
        _apply_patch(),
        _quoted(),
        _oddity(),
    )
    segments = draw(st.lists(kinds, max_size=max_segments))
    data = b""
    expected: list[Instruction] = []
    for piece, instructions in segments:
        data += piece
        expected += instructions
    return Script(data, tuple(coalesce(expected)))


def documents(max_segments: int = 8) -> st.SearchStrategy[bytes]:
    """Draw the bytes of a command document (see ``scripts``)."""
    return scripts(max_segments).map(lambda script: script.data)
