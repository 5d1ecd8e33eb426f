"""Positions equal a recount of the raw bytes; the parser's trusted constructors build values
indistinguishable from the public constructors'; long input stays bounded.
"""

from __future__ import annotations

import dataclasses
import random
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sa3p_parser import (
    EndTag,
    InstructionParser,
    MarkdownPolicy,
    ParseProblem,
    ParserConfig,
    Position,
    RawChunk,
    StartTag,
    Text,
    WriteChunk,
)
from sa3p_parser._instructions import (
    trusted_end_tag,
    trusted_position,
    trusted_raw_chunk,
    trusted_start_tag,
    trusted_start_tag_at,
    trusted_text,
    trusted_write_chunk,
)
from sa3p_parser._stream_position import StreamPosition, count_newlines
from sa3p_parser.testing import chunkings, documents, feed_in_chunks

from .test_properties import SETTINGS, noisy_bytes

# Tokens that exercise the one-match-per-tag path (complete, simple tags) and its every exit.
_SOUP = [
    b'<read_file path="a.py"/>',
    b'<list_files path="src" depth="2" />',
    b"<read_file\n  path='q'/>",
    b'<read_file path="a&amp;b"/>',
    b'<read_file path="x" path="y"/>',
    b'<read_file a="1" b="2" c="3" d="4" e="5" f=\'6\'/>',
    b'<terminal_signal signal="INT"/>',
    b'<read_file path="\xc3\xa9"/>',
    b'<read_file path="\xff"/>',
    b'<write_file path="w">\nbody\n</write_file>',
    b"</read_file>",
    b"<read_file",
    b"<div>",
    b"a < b",
    b"`",
    b"```\n",
    b"~~~\n",
    b"> ",
    b"- ",
    b"1. ",
    b"\n",
    b"   ",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\xff",
    b"prose ",
]


def _soup_document(rng: random.Random) -> bytes:
    return b"".join(rng.choice(_SOUP) for _ in range(rng.randrange(1, 40)))


def _recount(data: bytes, offset: int) -> Position:
    """Lines by newline bytes; columns by UTF-8 characters (bytes that do not continue one)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = sum(1 for byte in data[line_start:offset] if not 0x80 <= byte < 0xC0)
    return Position(data.count(b"\n", 0, offset) + 1, column + 1, offset)


def _check_positions(data: bytes, chunks: list[bytes], policy: MarkdownPolicy) -> None:
    parser = InstructionParser(ParserConfig(markdown=policy))
    for item in feed_in_chunks(parser, chunks):
        if isinstance(item, StartTag):
            assert item.position is not None
            assert data[item.position.offset : item.position.offset + 1] == b"<"
            assert item.position == _recount(data, item.position.offset)
        elif isinstance(item, ParseProblem) and item.position.offset < len(data):
            assert item.position == _recount(data, item.position.offset)


@SETTINGS
@given(data=st.data(), policy=st.sampled_from(list(MarkdownPolicy)))
def test_positions_equal_a_recount_of_the_raw_bytes(
    data: st.DataObject, policy: MarkdownPolicy
) -> None:
    document = data.draw(st.one_of(documents(), noisy_bytes()))
    _check_positions(document, data.draw(chunkings(document)), policy)


@SETTINGS
@given(seed=st.integers(0, 2**32), data=st.data())
def test_positions_in_tag_dense_soup_equal_a_recount(seed: int, data: st.DataObject) -> None:
    document = _soup_document(random.Random(seed))
    _check_positions(document, data.draw(chunkings(document)), MarkdownPolicy.QUOTE_CODE)


def test_positions_after_long_bodies_and_across_windows() -> None:
    body = ("é line of a body\n" * 5000).encode()
    prose = ("😀 prose " * 3000 + "\n").encode()
    tag = b'<read_file path="x"/>'
    document = prose + b'<write_file path="a">\n' + body + b"</write_file>" + prose + tag
    for size in (1, 7, 4096, 65536, len(document)):
        chunks = [document[i : i + size] for i in range(0, len(document), size)]
        _check_positions(document, chunks, MarkdownPolicy.QUOTE_CODE)


_OPERATIONS = st.lists(
    st.tuples(st.binary(max_size=40).map(lambda b: b.replace(b"\x01", b"\n")), st.booleans()),
    max_size=20,
)


@SETTINGS
@given(operations=_OPERATIONS, slack=st.integers(0, 5))
def test_stream_position_counts_chunks_and_buffers_alike(
    operations: list[tuple[bytes, bool]], slack: int
) -> None:
    counter = StreamPosition()
    stream = b""
    for data, whole in operations:
        if whole:
            counter.defer(data)
        else:  # count a buffer that starts `slack` bytes before the uncounted part
            base = max(0, len(stream) - slack)
            counter.skip((stream + data)[base:], base, len(stream) + len(data))
        stream += data
        counter.skip(b"", len(stream), len(stream))  # counts what was deferred
        expected = _recount(stream + b"\n", len(stream))
        assert (counter.line, counter.column, counter.offset) == (
            expected.line,
            expected.column,
            len(stream),
        )


@pytest.mark.parametrize("line_length", [1, 2, 15, 16, 17, 64, 5000])
def test_count_newlines_equals_bytes_count_at_every_density(line_length: int) -> None:
    for size in (0, 100, 2047, 2048, 4096, 65536 + 3):
        data = ((b"x" * (line_length - 1) + b"\n") * (size // line_length + 1))[:size]
        assert count_newlines(data) == data.count(b"\n")


def test_stream_position_ignores_offsets_already_counted() -> None:
    counter = StreamPosition()
    counter.skip(b"ab\ncd", 0, 5)
    counter.skip(b"ab\ncd", 0, 2)
    assert (counter.line, counter.column, counter.offset) == (2, 3, 5)


def test_trusted_constructors_build_the_public_values() -> None:
    position = Position(3, 4, 5)
    pairs = [
        (trusted_position(3, 4, 5), position),
        (trusted_text("é"), Text("é")),
        (trusted_end_tag("read_file"), EndTag("read_file")),
        (trusted_write_chunk(b"x"), WriteChunk(b"x")),
        (trusted_raw_chunk("terminal", b"ls"), RawChunk("terminal", b"ls")),
        (
            trusted_start_tag("read_file", {"path": "a"}, position),
            StartTag("read_file", {"path": "a"}),
        ),
    ]
    for trusted, public in pairs:
        assert dataclasses.is_dataclass(public)
        assert type(trusted) is type(public)
        assert trusted == public
        if not isinstance(public, StartTag):  # its attributes are a read-only mapping
            assert hash(trusted) == hash(public)
        assert repr(trusted).split("position=")[0] == repr(public).split("position=")[0]
        field = dataclasses.fields(public)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(trusted, field, getattr(trusted, field))
    start = trusted_start_tag("read_file", {"path": "a"}, position)
    assert isinstance(start.attributes, MappingProxyType)
    assert start.position == position
    at = trusted_start_tag_at("read_file", {"path": "a"}, 3, 4, 5)
    assert at == StartTag("read_file", {"path": "a"})
    assert at.position == position and type(at.position) is Position


def test_public_constructors_still_reject_bad_values() -> None:
    with pytest.raises(ValueError):
        Position(0, 1, 0)
    with pytest.raises(ValueError):
        StartTag("")
    with pytest.raises(ValueError):
        EndTag("")
    with pytest.raises(TypeError):
        WriteChunk("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RawChunk("terminal", bytearray(b"x"))  # type: ignore[arg-type]
