"""write_file: streams chunk by chunk, commits at the close tag, and nothing before."""

from __future__ import annotations

import hashlib

import pytest

from sa3p_engine import (
    ErrorCode,
    FileSystemError,
    FileWriter,
    WriteFileOutput,
    WriteReceipt,
)
from sa3p_engine.testing import MemoryFileSystem, ScriptedTerminal
from sa3p_parser import (
    EndTag,
    Instruction,
    ParseProblem,
    Position,
    ProblemKind,
    StartTag,
    WriteChunk,
)

from .engine_helpers import command, make_engine, run_one

HERE = Position(1, 1, 0)


def test_write_reports_path_size_hash_and_created() -> None:
    engine, vfs, _ = make_engine()
    output = run_one(engine, command("write_file", b"<p>&amp;</p>\n", path="a.html"))
    assert isinstance(output, WriteFileOutput) and output.ok
    assert output.created and output.bytes_written == 13
    assert output.sha256 == hashlib.sha256(b"<p>&amp;</p>\n").hexdigest()
    assert vfs.read("a.html") == b"<p>&amp;</p>\n"
    assert "created, 13 bytes" in output.render()
    again = run_one(engine, command("write_file", b"x", path="a.html"))
    assert isinstance(again, WriteFileOutput) and not again.created
    assert "replaced" in again.render()


class RecordingFileSystem(MemoryFileSystem):
    """Records each chunk the writer receives, to prove streaming."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def open_writer(self, path: str) -> FileWriter:
        inner = super().open_writer(path)
        chunks = self.chunks

        class Writer:
            def write(self, data: bytes) -> None:
                chunks.append(data)
                inner.write(data)

            def commit(self) -> WriteReceipt:
                return inner.commit()

            def abort(self) -> None:
                inner.abort()

        return Writer()


def test_body_goes_to_the_writer_chunk_by_chunk_before_the_close_tag() -> None:
    from sa3p_engine import Engine

    vfs = RecordingFileSystem()
    engine = Engine(vfs, ScriptedTerminal())
    assert engine.feed(StartTag("write_file", {"path": "big.bin"})) == []
    for index in range(5):
        assert engine.feed(WriteChunk(bytes([index]) * 1000)) == []
        assert len(vfs.chunks) == index + 1  # written as it arrives, not buffered
    with pytest.raises(FileSystemError):
        vfs.stat("big.bin")  # not visible before the close tag
    [output] = engine.feed(EndTag("write_file"))
    assert output.ok and vfs.stat("big.bin").size == 5000


@pytest.mark.parametrize(
    "ending",
    [
        [
            ParseProblem(
                kind=ProblemKind.UNCLOSED_COMMAND, message="cut", position=HERE, tag="write_file"
            )
        ],
        [],  # the caller just finishes the turn
    ],
)
def test_a_truncated_write_commits_nothing(ending: list[ParseProblem]) -> None:
    engine, vfs, _ = make_engine({"keep.txt": b"old"})
    instructions: list[Instruction] = [
        StartTag("write_file", {"path": "keep.txt"}),
        WriteChunk(b"half a fi"),
        *ending,
    ]
    output = run_one(engine, instructions)
    assert not output.ok and output.error is not None
    assert "nothing was written" in output.error
    assert vfs.read("keep.txt") == b"old"


def test_missing_path_fails_and_discards_the_body() -> None:
    engine, vfs, _ = make_engine()
    output = run_one(engine, command("write_file", b"data"))
    assert not output.ok and output.error is not None and "missing attribute path" in output.error
    assert vfs.list_tree(".") == []


def test_path_outside_the_workspace_fails_with_the_backend_reason() -> None:
    engine, _, _ = make_engine()
    output = run_one(engine, command("write_file", b"x", path="../escape.txt"))
    assert not output.ok and output.error is not None
    assert "outside the workspace" in output.error and "outside_workspace" in output.error


class FailingWriterFileSystem(MemoryFileSystem):
    def __init__(self, fail_on: str) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.aborted = False

    def open_writer(self, path: str) -> FileWriter:
        inner = super().open_writer(path)
        owner = self

        class Writer:
            def write(self, data: bytes) -> None:
                if owner.fail_on == "write":
                    raise FileSystemError(ErrorCode.TOO_LARGE, "disk quota exceeded", path=path)
                inner.write(data)

            def commit(self) -> WriteReceipt:
                if owner.fail_on == "commit":
                    raise OSError("device vanished")
                return inner.commit()

            def abort(self) -> None:
                owner.aborted = True
                inner.abort()

        return Writer()


@pytest.mark.parametrize(
    ("fail_on", "message"),
    [("write", "disk quota exceeded (too_large)"), ("commit", "OSError: device vanished")],
)
def test_writer_failures_become_failed_outputs_and_abort(fail_on: str, message: str) -> None:
    from sa3p_engine import Engine

    vfs = FailingWriterFileSystem(fail_on)
    engine = Engine(vfs, ScriptedTerminal())
    output = run_one(engine, command("write_file", b"data", path="f.txt"))
    assert not output.ok and output.error is not None and message in output.error
    assert vfs.aborted
    with pytest.raises(FileSystemError):
        vfs.stat("f.txt")
