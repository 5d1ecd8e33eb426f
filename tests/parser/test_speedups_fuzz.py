"""The C accelerator ``_speedups`` is memory-safe, leak-free and gives the pure-Python results.

``_speedups.c`` scans untrusted model output, so these tests feed it arbitrary bytes in arbitrary
chunkings and compare every ``feed()`` result with a ``SA3P_PURE_PYTHON=1`` worker process (a
differential fuzz), check that repeated parsing and every error path leak no memory and release
every buffer, and pin each bug the review found (one test each). ``SA3P_FUZZ_EXAMPLES=N`` fuzzes
longer; ``SA3P_HUGE_TESTS=1`` adds a 2.5 GiB buffer (about 4 s). Under AddressSanitizer and UBSan,
with a copy of the package whose extension was built with them (the project's .so is untouched)::

    mkdir -p /tmp/asan/sa3p_parser && cp src/sa3p_parser/*.py /tmp/asan/sa3p_parser/
    gcc -shared -fPIC -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        -I"$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
        src/sa3p_parser/_speedups.c \
        -o /tmp/asan/sa3p_parser/_speedups$(python3-config --extension-suffix)
    ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so) \
        $(gcc -print-file-name=libubsan.so)" PYTHONPATH=/tmp/asan pytest tests/parser

or under valgrind: ``PYTHONMALLOC=malloc valgrind -q python -m pytest tests/parser``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import mmap
import os
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_parser import (
    EndTag,
    InstructionParser,
    MarkdownPolicy,
    ParserConfig,
    Position,
    StartTag,
    Text,
)
from sa3p_parser._accel import ACCELERATED, c_attribute
from sa3p_parser._lines import LineStatePython
from sa3p_parser.testing import chunkings, documents

from .test_properties import noisy_bytes

pytestmark = pytest.mark.skipif(not ACCELERATED, reason="the C accelerator is not in use")

FUZZ = settings(
    max_examples=int(os.environ.get("SA3P_FUZZ_EXAMPLES", "150")), deadline=None, database=None
)
KIT = (Text, StartTag, EndTag, Position)
NAMES = ((b"read_file", "read_file"), (b"terminal_signal", "terminal_signal"))
_MIN_TAG_LENGTH = 64

# Pieces that reach every branch of scan_commands and LineState: units it takes, and each way it
# stops (cut tags, close tags, prefixes of names, markdown, entities, quotes, duplicates, invalid
# and cut multibyte UTF-8, over-long tags, a '<' at the end).
_PIECES = [
    b'<read_file path="a.py"/>',
    b'<read_file path="\xc3\xa9\xe6\x97\xa5"/>',
    b'<read_file path="\xff\xc3"/>',
    b'<read_file  a = "1"\tb="2"\r\n/>',
    b'<read_file a="1"b="2"/>',
    b'<read_file a="1" a="2"/>',
    b'<read_file a="&amp;"/>',
    b"<read_file a='1'/>",
    b'<read_file a="<"/>',
    b"<read_file/>",
    b"<read_file>",
    b'<read_file path="' + b"x" * 70 + b'"/>',
    b'<terminal_signal signal="INT"/>',
    b'<list_files path="." />',
    b'<write_file path="w">\nbody <\n</write_file>',
    b"</read_file>",
    b"</read_file/",
    b"<read_filex/>",
    b"<read_fil",
    b"<",
    b"</",
    b"<<",
    b"<div>",
    b"`",
    b"```\n",
    b"~~~\n",
    b"\n",
    b"\r\n",
    b" ",
    b"\xc3",
    b"\xa9",
    b"\xe6\x97\xa5",
    b"\xf0\x9f\x98\x80",
    b"\xff",
    b"\x00",
    b"prose",
]

piece_documents = st.lists(
    st.one_of(st.sampled_from(_PIECES), st.binary(max_size=4)), max_size=40
).map(b"".join)
any_document = st.one_of(piece_documents, documents(), noisy_bytes(), st.binary(max_size=300))


def render(policy: str, max_tag_length: int, chunks: list[bytes]) -> list[list[str]]:
    """The repr of what each ``feed()`` (then ``finish()``) returned: exact, positions too."""
    config = ParserConfig(markdown=MarkdownPolicy(policy), max_tag_length=max_tag_length)
    parser = InstructionParser(config)
    results = [[repr(item) for item in parser.feed(chunk)] for chunk in chunks]
    return [*results, [repr(item) for item in parser.finish()]]


def _render_cases(cases: list[tuple[str, int, list[str]]]) -> list[list[list[str]]]:
    return [
        render(policy, limit, [bytes.fromhex(c) for c in chunks]) for policy, limit, chunks in cases
    ]


_WORKER = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from sa3p_parser._accel import ACCELERATED
from tests.parser.test_speedups_fuzz import _render_cases
assert not ACCELERATED
for line in sys.stdin:
    print(json.dumps(_render_cases(json.loads(line))), flush=True)
"""

PureRender = Callable[[list[tuple[str, int, list[bytes]]]], list[list[list[str]]]]


@pytest.fixture(scope="module")
def pure_render() -> Iterator[PureRender]:
    """Renders cases in a ``SA3P_PURE_PYTHON=1`` worker process, one JSON line per batch."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, json.dumps([root])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SA3P_PURE_PYTHON": "1"},
    )
    assert worker.stdin is not None and worker.stdout is not None
    stdin, stdout = worker.stdin, worker.stdout

    def ask(cases: list[tuple[str, int, list[bytes]]]) -> list[list[list[str]]]:
        request = [(policy, limit, [c.hex() for c in chunks]) for policy, limit, chunks in cases]
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        reply: list[list[list[str]]] = json.loads(stdout.readline())
        return reply

    try:
        yield ask
    finally:
        stdin.close()
        worker.wait(timeout=30)


@FUZZ
@given(
    document=any_document,
    data=st.data(),
    policy=st.sampled_from([p.value for p in MarkdownPolicy]),
    limit=st.sampled_from([_MIN_TAG_LENGTH, 8192]),
)
def test_differential_fuzz_every_feed_equals_pure_python(
    pure_render: PureRender, document: bytes, data: st.DataObject, policy: str, limit: int
) -> None:
    chunks = data.draw(chunkings(document))
    assert render(policy, limit, chunks) == pure_render([(policy, limit, chunks)])[0]


def _random_case(rng: random.Random) -> tuple[str, int, list[bytes]]:
    pieces = [rng.choice(_PIECES) if rng.random() < 0.8 else rng.randbytes(3) for _ in range(60)]
    data = b"".join(pieces)
    size = rng.choice([1, 2, 3, 7, 64, 1000])
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    policy = rng.choice([p.value for p in MarkdownPolicy])
    return policy, rng.choice([_MIN_TAG_LENGTH, 8192]), chunks


def test_seeded_bulk_fuzz_equals_pure_python(pure_render: PureRender) -> None:
    rng = random.Random(20261121)
    cases = [_random_case(rng) for _ in range(400)]
    expected = pure_render(cases)
    for case, pure in zip(cases, expected, strict=True):
        assert render(*case) == pure, case


def _allocated_growth(work: Callable[[], object], rounds: int) -> tuple[int, int]:
    """Growth of live pymalloc blocks and of traced bytes over ``rounds`` calls after warm-up."""
    for _ in range(20):
        work()
    gc.collect()
    tracemalloc.start()
    blocks, (traced, _) = sys.getallocatedblocks(), tracemalloc.get_traced_memory()
    for _ in range(rounds):
        work()
    gc.collect()
    grown = sys.getallocatedblocks() - blocks, tracemalloc.get_traced_memory()[0] - traced
    tracemalloc.stop()
    return grown


_LEAK_DOCUMENT = b"".join(_PIECES) * 4 + b'<read_file path="' + b"\xc3\xa9" * 3000 + b'"/>'


def test_repeated_parsing_leaks_nothing() -> None:
    chunks = [_LEAK_DOCUMENT[i : i + 97] for i in range(0, len(_LEAK_DOCUMENT), 97)]

    def work() -> None:
        parser = InstructionParser()
        for chunk in chunks:
            parser.feed(chunk)
        parser.finish()

    blocks, traced = _allocated_growth(work, 200)
    assert blocks < 200  # a leaked reference per call would leave >= 200 blocks
    assert traced < 64 * 1024  # a leaked 6 KB attribute or buffer per call: over 1 MB


def _scan(buf: Any, lines: Any = None, **changes: Any) -> tuple[tuple[int, bool, int], list[Any]]:
    scan = c_attribute("scan_commands")
    out: list[Any] = []
    arguments = {
        "start": 0, "base": 0, "limit": 8192, "check_markdown": True, "final": False,
        "kit": KIT, "names": NAMES, **changes,
    }  # fmt: skip
    result = scan(
        buf, arguments["start"], lines if lines is not None else c_attribute("LineState")(),
        arguments["base"], arguments["limit"], arguments["check_markdown"], arguments["final"],
        arguments["kit"], arguments["names"], out,
    )  # fmt: skip
    return result, out


_BAD_ARGUMENTS: list[dict[str, Any]] = [
    {"names": ((b"read_file",),)},
    {"names": (("read_file", b"read_file"),)},
    {"names": ((b"read_file", "rf"),)},
    {"names": ((b"", ""),)},
    {"names": [(b"read_file", "read_file")]},
    {"names": ((b"x", "\ud800"),)},
    {"kit": (1, 2, 3, 4)},
    {"kit": (tuple, tuple, tuple, tuple)},
    {"kit": (Text, StartTag, EndTag)},
    {"start": "0"},
    {"base": 2**64},
]


@pytest.mark.parametrize("changes", _BAD_ARGUMENTS)
def test_bad_arguments_raise_type_errors_not_crashes(changes: dict[str, Any]) -> None:
    """Bug: names and kit items were used unchecked (a wrong type read memory as another)."""
    _scan(b"", names=NAMES)  # checked names are cached: the cache must not let others through
    with pytest.raises((TypeError, OverflowError)):
        _scan(b'text <read_file path="a"/>', **changes)


def test_error_paths_leak_nothing_and_release_the_buffer() -> None:
    buf = bytearray(b'text <read_file path="a"/> tail')

    def work() -> None:
        for changes in _BAD_ARGUMENTS:
            with contextlib.suppress(TypeError, OverflowError):
                _scan(buf, **changes)
        buf.extend(b"x")  # BufferError if any path kept the buffer exported
        del buf[-1]

    blocks, _ = _allocated_growth(work, 100)
    assert blocks < 100


def test_memory_errors_raise_cleanly_and_keep_out_consistent() -> None:
    """Bug: a failed allocation left an incomplete Position in ``out`` and returned a result
    with the MemoryError still set (SystemError)."""
    testcapi = pytest.importorskip("_testcapi")
    if not hasattr(testcapi, "set_nomemory"):
        pytest.skip("this Python cannot inject allocation failures")
    buf = bytearray(b'text <read_file path="a" b="\xc3\xa9"/> more <read_file x="y"/> tail')
    outcomes = set()
    for failing in range(80):
        lines = c_attribute("LineState")()
        lines.offset, lines.line, lines.column = 10**6, 5000, 7000  # no cached small ints
        out: list[Any] = []
        testcapi.set_nomemory(failing, failing + 1)
        try:
            c_attribute("scan_commands")(buf, 0, lines, 10**6, 8192, True, False, KIT, NAMES, out)
        except MemoryError:
            outcomes.add("MemoryError")
        else:
            outcomes.add("ok")
        finally:
            testcapi.remove_mem_hooks()
        for item in out:  # every value appended is complete
            assert repr(item)
        buf.extend(b"x")  # the buffer was released on the error path too
        del buf[-1]
    assert outcomes == {"MemoryError", "ok"}


_EXTREMES = [0, 1, 2**31, 2**32 + 5, 2**62, 2**63 - 1, -1, -(2**31), -(2**63)]


@pytest.mark.parametrize("base", _EXTREMES)
@pytest.mark.parametrize("offset", _EXTREMES)
def test_skip_with_extreme_offsets_equals_python(base: int, offset: int) -> None:
    """Bug: ``offset - base`` overflowed (undefined behaviour) for far-apart stream offsets."""
    buf = b"ab\ncd\xc3\xa9"
    c_lines, py_lines = c_attribute("LineState")(), LineStatePython()
    for lines in (c_lines, py_lines):
        lines.offset = -(2**63)
        lines.skip(buf, base, offset)
    assert (c_lines.line, c_lines.column, c_lines.offset) == (
        py_lines.line, py_lines.column, py_lines.offset,
    )  # fmt: skip


@pytest.mark.parametrize("field", ["offset", "line", "column"])
def test_counts_that_would_overflow_raise_and_change_nothing(field: str) -> None:
    """Bug: ``offset += len``, ``line += n`` and ``column += n`` wrapped past 2**63 - 1."""
    lines = c_attribute("LineState")()
    setattr(lines, field, 2**63 - 1)
    before = (lines.line, lines.column, lines.offset)
    data = bytearray(b"ab" if field == "column" else b"a\nb")
    with pytest.raises(OverflowError, match=field):
        lines.skip_all(data)
    assert (lines.line, lines.column, lines.offset) == before
    data.extend(b"x")  # released


def test_positions_beyond_4_gib_are_exact() -> None:
    """Stream offsets are 64-bit everywhere: a tag after 2**32 + 7 bytes has that offset."""
    base = 2**32 + 7
    lines = c_attribute("LineState")()
    lines.skip_all(b"x\n" * 3)
    lines.offset = base  # as if the stream's first 4 GiB had been counted
    (stop, wait, _), out = _scan(b'\xc3\xa9\n<read_file path="a"/>', lines, base=base)
    assert (stop, wait) == (24, False)
    assert out[1].position == Position(5, 1, base + 3)
    with pytest.raises(OverflowError):
        _scan(b'a<read_file path="a"/>', c_attribute("LineState")(), base=2**63 - 1)


def test_a_negative_limit_takes_no_tag() -> None:
    (stop, wait, _), out = _scan(b'a<read_file path="a"/>', limit=-(2**63))
    assert (stop, wait, out) == (0, False, [])  # the general path takes the tag


@pytest.mark.skipif(not os.environ.get("SA3P_HUGE_TESTS"), reason="set SA3P_HUGE_TESTS=1")
def test_a_buffer_over_2_gib_is_counted_exactly() -> None:
    size = 2**31 + 2**29
    try:
        buf = mmap.mmap(-1, size)
    except (OSError, ValueError, OverflowError):
        pytest.skip("cannot map 2.5 GiB")
    tail = b'\n\xc3\xa9<read_file path="a"/>'
    buf[size - len(tail) :] = tail
    lines = c_attribute("LineState")()
    (stop, wait, _), out = _scan(buf, lines, start=size - len(tail) + 3)
    assert (stop, wait) == (size, False)
    assert out[0].position == Position(2, 2, size - len(tail) + 3)
    whole = c_attribute("LineState")()
    whole.skip_all(buf)
    assert (whole.line, whole.column, whole.offset) == (2, 23, size)
    buf.close()
