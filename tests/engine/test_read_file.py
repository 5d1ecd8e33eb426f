"""read_file: numbered lines, clamping with warnings, caps with the line to continue from."""

from __future__ import annotations

import hashlib

import pytest

from sa3p_engine import Limits, ReadFileOutput

from .engine_helpers import command, make_engine, run_one

TEN = b"".join(b"line %d\n" % number for number in range(1, 11))


def read(
    files: dict[str, bytes], limits: Limits | None = None, **attributes: str
) -> ReadFileOutput:
    engine, _, _ = make_engine(files, limits=limits or Limits())
    output = run_one(engine, command("read_file", **attributes))
    assert isinstance(output, ReadFileOutput), output.render()
    return output


def test_range_is_one_based_inclusive_and_numbered() -> None:
    output = read({"t.txt": TEN}, path="t.txt", start_line="3", end_line="4")
    assert output.served == (3, 4) and output.requested == (3, 4)
    assert output.content == "3 | line 3\n4 | line 4\n"
    assert output.total_lines == 10 and output.size == len(TEN)
    assert output.sha256 == hashlib.sha256(TEN).hexdigest()
    assert output.warnings == () and output.next_start_line is None
    assert "lines 3-4 of 10" in output.render()


def test_whole_file_by_default_with_aligned_numbers() -> None:
    output = read({"t.txt": TEN}, path="t.txt")
    assert output.served == (1, 10)
    assert output.content.splitlines()[0] == " 1 | line 1"


@pytest.mark.parametrize(
    ("start", "end", "served", "warning"),
    [
        ("0", "2", (1, 2), "before line 1"),
        ("-5", "2", (1, 2), "before line 1"),
        ("8", "50", (8, 10), "end_line 50 is past the end"),
        ("20", "30", (0, 0), "start_line 20 is past the end: the file has 10 lines"),
    ],
)
def test_out_of_range_is_clamped_with_a_warning(
    start: str, end: str, served: tuple[int, int], warning: str
) -> None:
    output = read({"t.txt": TEN}, path="t.txt", start_line=start, end_line=end)
    assert output.ok and output.served == served
    assert any(warning in text for text in output.warnings), output.warnings
    assert warning in output.render()


def test_line_cap_gives_the_exact_line_to_continue_from() -> None:
    limits = Limits(read_max_lines=4)
    output = read({"t.txt": TEN}, limits, path="t.txt", start_line="2")
    assert output.served == (2, 5) and output.next_start_line == 6
    assert 'start_line="6"' in output.render()
    rest = read({"t.txt": TEN}, limits, path="t.txt", start_line="6")
    assert rest.served == (6, 9) and rest.next_start_line == 10


def test_byte_cap_and_overlong_line() -> None:
    limits = Limits(read_max_bytes=20)
    output = read({"t.txt": TEN}, limits, path="t.txt")
    assert output.served == (1, 2) and output.next_start_line == 3
    long = read({"l.txt": b"x" * 100 + b"\nshort\n"}, limits, path="l.txt")
    assert long.served == (1, 1) and long.next_start_line == 2
    assert "line 1 is longer than 20 bytes" in long.render()


def test_lines_spanning_read_blocks() -> None:
    content = b"".join(b"%05d-abcdefghij\n" % n for n in range(500)) + b"no newline at end"
    limits = Limits(read_block_bytes=7)
    output = read({"b.txt": content}, limits, path="b.txt", start_line="250", end_line="252")
    assert (
        output.content == "250 | 00249-abcdefghij\n251 | 00250-abcdefghij\n252 | 00251-abcdefghij\n"
    )
    assert output.total_lines == 501
    tail = read({"b.txt": content}, limits, path="b.txt", start_line="501")
    assert tail.content == "501 | no newline at end\n"
    assert tail.sha256 == hashlib.sha256(content).hexdigest()


def test_crlf_lines_are_shown_without_carriage_returns() -> None:
    output = read({"w.txt": b"a\r\nb\r\n"}, path="w.txt")
    assert output.content == "1 | a\n2 | b\n" and output.total_lines == 2


def test_empty_file() -> None:
    output = read({"e.txt": b""}, path="e.txt")
    assert output.total_lines == 0 and output.served == (0, 0) and output.content == ""


@pytest.mark.parametrize("data", [b"\x00\x01\x02binary", b"caf\xe9 latin-1\n"])
def test_binary_files_get_a_clear_message(data: bytes) -> None:
    output = read({"b.bin": data}, path="b.bin")
    assert output.binary and output.content == ""
    assert "binary file: not shown" in output.render()
    assert output.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({}, "missing attribute path"),
        ({"path": "t.txt", "start_line": "abc"}, 'start_line="abc" is not an integer'),
        ({"path": "t.txt", "end_line": "1.5"}, 'end_line="1.5" is not an integer'),
        ({"path": "t.txt", "start_line": "5", "end_line": "2"}, "is before start_line"),
        ({"path": "missing.txt"}, "missing.txt does not exist (not_found)"),
        ({"path": "../etc/passwd"}, "outside the workspace"),
    ],
)
def test_bad_requests_fail_clearly(attributes: dict[str, str], message: str) -> None:
    engine, _, _ = make_engine({"t.txt": TEN})
    output = run_one(engine, command("read_file", **attributes))
    assert not output.ok and output.error is not None and message in output.error
    assert output.render().startswith("[read_file")
