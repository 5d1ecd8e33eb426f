"""The hot paths and the optional C accelerator give exactly what the general path gives.

``SA3P_PURE_PYTHON=1`` forces the pure-Python implementation; these tests compare the two in one
run (the pure one in a subprocess), check positions against a recount of the raw bytes, and check
that the shortcut constructors build values indistinguishable from the public constructors'.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import subprocess
import sys
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
from sa3p_parser._accel import ACCELERATED
from sa3p_parser._fast import (
    new_end_tag,
    new_position,
    new_raw_chunk,
    new_start_tag,
    new_text,
    new_write_chunk,
)
from sa3p_parser._lines import LineCounter, LineStatePython
from sa3p_parser.testing import chunkings, documents, feed_in_chunks

from .test_properties import SETTINGS, noisy_bytes

PURE = os.environ.get("SA3P_PURE_PYTHON", "") not in ("", "0")

# Tokens that reach the C path (double-quoted, self-closing command tags) and its exits.
_SOUP = [
    b'<read_file path="a.py"/>',
    b'<list_files path="src" depth="2" />',
    b"<read_file\n  path='q'/>",
    b'<read_file path="a&amp;b"/>',
    b'<read_file path="x" path="y"/>',
    b'<terminal_signal signal="INT"/>',
    b'<read_file path="\xc3\xa9"/>',
    b'<write_file path="w">\nbody\n</write_file>',
    b"</read_file>",
    b"<read_file",
    b"<div>",
    b"a < b",
    b"`",
    b"```\n",
    b"~~~\n",
    b"\n",
    b"   ",
    b"\xc3\xa9",
    b"\xff",
    b"prose ",
]


def _soup_document(rng: random.Random) -> bytes:
    return b"".join(rng.choice(_SOUP) for _ in range(rng.randrange(1, 40)))


def _corpus() -> list[tuple[str, list[bytes]]]:
    """Deterministic documents and chunkings, with the markdown policy to parse them under."""
    rng = random.Random(20261121)
    corpus = []
    for index in range(300):
        data = _soup_document(rng)
        if index % 4 == 0:  # small fixed-size chunks: tags and characters cut everywhere
            size = rng.randrange(1, 24)
            bounds = [*range(0, len(data), size), len(data)]
        else:
            cuts = rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(0, 6)))
            bounds = [0, *sorted(cuts), len(data)]
        policy = list(MarkdownPolicy)[index % 3].value
        corpus.append((policy, [data[a:b] for a, b in itertools.pairwise(bounds)]))
    return corpus


def _render(corpus: list[tuple[str, list[bytes]]]) -> list[list[str]]:
    """Every instruction's repr (positions and messages included), per document."""
    rendered = []
    for policy, chunks in corpus:
        parser = InstructionParser(ParserConfig(markdown=MarkdownPolicy(policy)))
        rendered.append([repr(item) for item in feed_in_chunks(parser, chunks)])
    return rendered


_CHILD = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from sa3p_parser._accel import ACCELERATED
from tests.parser.test_speedups import _corpus, _render
assert not ACCELERATED
print(json.dumps(_render(_corpus())))
"""


def _run_pure(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SA3P_PURE_PYTHON": "1"}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(PURE, reason="compares this process's paths with a pure-Python subprocess")
def test_accelerated_and_pure_python_give_identical_instructions() -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child = _run_pure(_CHILD, json.dumps([root]))
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == _render(_corpus())


def test_the_environment_variable_forces_pure_python() -> None:
    code = "from sa3p_parser._accel import ACCELERATED, speedups; print(ACCELERATED, speedups)"
    child = _run_pure(code)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["False", "None"]


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
def test_positions_in_the_c_path_soup_equal_a_recount(seed: int, data: st.DataObject) -> None:
    document = _soup_document(random.Random(seed))
    _check_positions(document, data.draw(chunkings(document)), MarkdownPolicy.QUOTE_CODE)


_OPERATIONS = st.lists(
    st.tuples(st.binary(max_size=40).map(lambda b: b.replace(b"\x01", b"\n")), st.booleans()),
    max_size=20,
)


@SETTINGS
@given(operations=_OPERATIONS, slack=st.integers(0, 5))
def test_line_state_c_and_python_agree(operations: list[tuple[bytes, bool]], slack: int) -> None:
    counters = [LineStatePython(), LineCounter()]
    stream = b""
    for data, whole in operations:
        for counter in counters:
            if whole:
                counter.skip_all(data)
            else:  # count a buffer that starts `slack` bytes before the uncounted part
                base = max(0, len(stream) - slack)
                buffer = (stream + data)[base:]
                counter.skip(buffer, base, len(stream) + len(data))
        stream += data
        states = {(c.line, c.column, c.offset) for c in counters}
        assert len(states) == 1
    expected = _recount(stream + b"\n", len(stream)) if stream else Position(1, 1, 0)
    assert (counters[0].line, counters[0].column) == (expected.line, expected.column)


def test_line_counter_ignores_offsets_already_counted() -> None:
    counter = LineCounter()
    counter.skip(b"ab\ncd", 0, 5)
    counter.skip(b"ab\ncd", 0, 2)
    assert (counter.line, counter.column, counter.offset) == (2, 3, 5)


def test_accelerator_status_is_reported() -> None:
    assert ACCELERATED is not PURE or not ACCELERATED


def test_shortcut_constructors_build_the_public_values() -> None:
    position = Position(3, 4, 5)
    pairs = [
        (new_position(3, 4, 5), position),
        (new_text("é"), Text("é")),
        (new_end_tag("read_file"), EndTag("read_file")),
        (new_write_chunk(b"x"), WriteChunk(b"x")),
        (new_raw_chunk("terminal", b"ls"), RawChunk("terminal", b"ls")),
        (new_start_tag("read_file", {"path": "a"}, position), StartTag("read_file", {"path": "a"})),
    ]
    for fast, public in pairs:
        assert dataclasses.is_dataclass(public)
        assert type(fast) is type(public)
        assert fast == public
        assert repr(fast).split("position=")[0] == repr(public).split("position=")[0]
        field = dataclasses.fields(public)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(fast, field, getattr(fast, field))
    start = new_start_tag("read_file", {"path": "a"}, position)
    assert isinstance(start.attributes, MappingProxyType)
    assert start.position == position
    assert hash(new_position(1, 2, 3)) == hash(Position(1, 2, 3))
