"""Less common paths: diff dialects, size limits, abandoned parts, lenient inputs."""

from __future__ import annotations

import pytest

from sa3p_engine import (
    ApplyEditOutput,
    EditTier,
    Engine,
    FileWriter,
    Limits,
    WriteReceipt,
)
from sa3p_engine.testing import MemoryFileSystem, ScriptedTerminal
from sa3p_parser import (
    EndTag,
    ParseProblem,
    Position,
    ProblemKind,
    RawChunk,
    StartTag,
    Text,
)

from .engine_helpers import command, edit, make_engine, run_one, text_edit

CODE = (
    b"class A:\n    def run(self):\n        step_one()\n        step_two()\n        return True\n"
)


def test_fuzzy_match_reindents_the_replacement() -> None:
    search = "def run(self):\n    step_one()\n    step_twoo()\n    return True\n"
    replace = "def run(self):\n    step_three()\n    return True\n"
    engine, vfs, _ = make_engine({"a.py": CODE})
    output = run_one(engine, edit("a.py", (search, replace)))
    assert isinstance(output, ApplyEditOutput) and output.edits[0].tier is EditTier.FUZZY
    assert vfs.read("a.py") == (
        b"class A:\n    def run(self):\n        step_three()\n        return True\n"
    )


@pytest.mark.parametrize(
    "body",
    [
        "@@ @@\n         step_one()\n-        step_two()\n+        step_2()\n",
        "@@ -3,2 +3,2 @@\n        step_one()\n-        step_two()\n+        step_2()\n",  # no space
        "diff --git a/a.py b/a.py\nindex 1a2b3c..4d5e6f 100644\n--- a/a.py\n+++ b/a.py\n"
        "@@ -4 +4 @@\n-        step_two()\n+        step_2()\n",
        "@@ def run(self):\n-        step_two()\n+        step_2()\n",
        "@@ … @@\n-        step_two()\n+        step_2()\n",
        "@@ ... @@\n-        step_two()\n+        step_2()\n",
        "@@\n-        step_two()\n+        step_2()\n",
    ],
)
def test_diff_dialects(body: str) -> None:
    engine, vfs, _ = make_engine({"a.py": CODE})
    output = run_one(engine, text_edit("a.py", body))
    assert output.ok, output.render()
    assert vfs.read("a.py") == CODE.replace(b"step_two()", b"step_2()")


def test_no_newline_marker_on_a_line_that_does_not_end_the_file_is_refused() -> None:
    body = "@@ -4 +4 @@\n-        step_two()\n+        step_2()\n\\ No newline at end of file\n"
    engine, vfs, _ = make_engine({"a.py": CODE})
    output = run_one(engine, text_edit("a.py", body))
    assert not output.ok and "must end the file" in (output.error or "")
    assert vfs.read("a.py") == CODE


def test_diff_with_two_hunks_applies_both_or_neither() -> None:
    body = (
        "@@ -3 +3 @@\n-        step_one()\n+        step_1()\n"
        "@@ -4 +4 @@\n-        step_two()\n+        step_2()\n"
    )
    engine, vfs, _ = make_engine({"a.py": CODE})
    output = run_one(engine, text_edit("a.py", body))
    assert isinstance(output, ApplyEditOutput) and len(output.edits) == 2
    bad = body.replace("-        step_two()", "-        step_zzz_not_here(1, 2, 3)")
    engine, vfs, _ = make_engine({"a.py": CODE})
    failed = run_one(engine, text_edit("a.py", bad))
    assert not failed.ok and (failed.error or "").startswith("edit 2 of 2")
    assert vfs.read("a.py") == CODE


def test_pure_addition_hunk_without_a_place_is_refused() -> None:
    engine, vfs, _ = make_engine({"a.py": CODE})
    output = run_one(engine, text_edit("a.py", "@@ -0,0 +1 @@\n+import os\n"))
    assert not output.ok and "nothing says where they go" in (output.error or "")
    assert vfs.read("a.py") == CODE


def test_pure_addition_hunk_goes_after_its_anchor() -> None:
    engine, vfs, _ = make_engine({"a.py": CODE})
    output = run_one(engine, text_edit("a.py", '@@ class A:\n+    """Doc."""\n'))
    assert output.ok, output.render()
    assert vfs.read("a.py") == CODE.replace(b"class A:\n", b'class A:\n    """Doc."""\n')


def test_search_part_without_its_start_tag_and_text_in_write_file() -> None:
    engine, vfs, _ = make_engine({"a.py": CODE})
    output = run_one(
        engine,
        [
            StartTag("apply_edit", {"path": "a.py"}),
            RawChunk("search", b"step_one()"),
            RawChunk("replace", b"step_1()"),
            EndTag("apply_edit"),
        ],
    )
    assert output.ok and b"step_1()" in vfs.read("a.py")
    written = run_one(
        engine, [StartTag("write_file", {"path": "t.txt"}), Text("héllo"), EndTag("write_file")]
    )
    assert written.ok and vfs.read("t.txt") == "héllo".encode()


def test_invalid_utf8_in_a_search_part() -> None:
    engine, _, _ = make_engine({"a.py": CODE})
    output = run_one(
        engine,
        [
            *edit("a.py", ("x", "y"))[:2],
            RawChunk("search", b"\xff"),
            EndTag("search"),
            StartTag("replace"),
            RawChunk("replace", b"z"),
            EndTag("replace"),
            EndTag("apply_edit"),
        ],
    )
    assert not output.ok and "<search> is not valid UTF-8" in (output.error or "")


def test_stream_cut_inside_a_search_part() -> None:
    engine, vfs, _ = make_engine({"a.py": CODE})
    cut = ParseProblem(
        kind=ProblemKind.UNCLOSED_COMMAND,
        message="cut",
        position=Position(1, 1, 0),
        tag="apply_edit",
    )
    result = engine.execute_turn(
        [
            StartTag("apply_edit", {"path": "a.py"}),
            StartTag("search"),
            RawChunk("search", b"step_one()"),
            cut,
        ]
    )
    [output] = result.outputs
    assert not output.ok and "it was not run" in (output.error or "")
    assert vfs.read("a.py") == CODE


def test_size_limits() -> None:
    limits = Limits(edit_max_bytes=64, max_command_bytes=8)
    engine, _, _ = make_engine({"a.py": CODE, "small.txt": b"a b c\n"}, limits=limits)
    big = run_one(engine, edit("a.py", ("step_one()", "x")))
    assert "larger than 64 bytes" in (big.error or "")
    long_body = run_one(engine, edit("small.txt", ("a" * 100, "b")))
    assert "longer than 64 bytes" in (long_body.error or "")
    long_command = run_one(engine, command("terminal", b"echo 123456789"))
    assert "longer than 8 bytes" in (long_command.error or "")


class CommitFails(MemoryFileSystem):
    def open_writer(self, path: str) -> FileWriter:
        inner = super().open_writer(path)

        class Writer:
            def write(self, data: bytes) -> None:
                inner.write(data)

            def commit(self) -> WriteReceipt:
                raise PermissionError("read-only")

            def abort(self) -> None:
                inner.abort()

        return Writer()


def test_an_edit_whose_write_fails_leaves_the_file() -> None:
    vfs = CommitFails({"a.py": CODE})
    engine = Engine(vfs, ScriptedTerminal())
    output = run_one(engine, edit("a.py", ("step_one()", "step_1()")))
    assert output.error == "backend failure: PermissionError: read-only"
    assert vfs.read("a.py") == CODE


def test_limits_are_validated_and_terminal_timeout_raises_the_cap() -> None:
    with pytest.raises(ValueError):
        Limits(read_max_lines=0)
    with pytest.raises(ValueError):
        Limits(terminal_timeout=100, max_terminal_timeout=10)
    engine = Engine(MemoryFileSystem(), ScriptedTerminal(), terminal_timeout=900)
    assert engine.limits.terminal_timeout == 900 and engine.limits.max_terminal_timeout == 900


class BrokenTerminal(ScriptedTerminal):
    def active_pids(self) -> list[int]:
        raise ConnectionError("guest gone")

    def close(self) -> None:
        raise ConnectionError("guest gone")


def test_header_and_close_survive_a_broken_terminal() -> None:
    engine = Engine(MemoryFileSystem(), BrokenTerminal())
    assert engine.finish_turn().state_header.active_pids == []
    engine.close()
