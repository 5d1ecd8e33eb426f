"""apply_patch: the V4A format element by element, ambiguity, anchors, end of file, add / delete /
move, all-or-nothing across files (with restores when a backend fails midway), CRLF files, and
the same results whatever the chunking of the reply, through Engine and AsyncEngine."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sa3p_engine import (
    ApplyPatchOutput,
    CommandOutput,
    EditTier,
    Engine,
    ErrorCode,
    FileSystemError,
    PatchAction,
)
from sa3p_engine._patch_format import AddFile, DeleteFile, PatchProblem, UpdateFile, parse_patch
from sa3p_engine.testing import MemoryFileSystem, ScriptedTerminal
from sa3p_parser import InstructionParser, ParserConfig
from sa3p_parser.testing import chunkings

from .engine_helpers import command, run_both

APP = (
    b'import os\n\n\ndef main():\n    print("hi")\n    return 0\n\n\ndef helper():\n    return 1\n'
)
FILES = {"src/app.py": APP, "README.md": b"# Title\n\nSome text.\n", "old.txt": b"bye\n"}


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch", ""])


def apply(
    body: str, files: dict[str, bytes] | None = None
) -> tuple[CommandOutput, dict[str, bytes]]:
    outputs, after = run_both(dict(FILES if files is None else files), command("apply_patch", body))
    [output] = outputs
    return output, after


def applied(
    body: str, files: dict[str, bytes] | None = None
) -> tuple[ApplyPatchOutput, dict[str, bytes]]:
    output, after = apply(body, files)
    assert isinstance(output, ApplyPatchOutput), output.render()
    return output, after


def refused(body: str, files: dict[str, bytes] | None = None) -> str:
    before = dict(FILES if files is None else files)
    output, after = apply(body, before)
    assert not output.ok, output.render()
    assert after == before, "a refused patch changes nothing"
    assert "Nothing was changed" in (output.error or "") or "nothing was changed" in (
        output.error or ""
    )
    return output.error or ""


# --- grammar ----------------------------------------------------------------------------------


def test_update_with_context_removed_and_added_lines() -> None:
    body = patch(
        "*** Update File: src/app.py",
        "@@ def main():",
        '-    print("hi")',
        '+    print("hello")',
        "     return 0",
    )
    output, files = applied(body)
    assert files["src/app.py"] == APP.replace(b'"hi"', b'"hello"')
    [report] = output.files
    assert report.action is PatchAction.UPDATED and report.path == "src/app.py"
    assert report.chunks[0].tier is EditTier.EXACT and report.chunks[0].start_line == 5
    assert '-    print("hi")' in output.diff and '+    print("hello")' in output.diff
    assert "updated src/app.py, sha256" in output.render()


def test_add_delete_and_several_files_in_one_patch() -> None:
    body = patch(
        "*** Add File: src/util.py",
        "+VALUE = 1",
        "+",
        "+def twice(x):",
        "+    return 2 * x",
        "*** Delete File: old.txt",
        "*** Update File: README.md",
        "@@",
        " # Title",
        "+",
        "+Intro.",
    )
    output, files = applied(body)
    assert files["src/util.py"] == b"VALUE = 1\n\ndef twice(x):\n    return 2 * x\n"
    assert "old.txt" not in files
    assert files["README.md"] == b"# Title\n\nIntro.\n\nSome text.\n"
    actions = {report.path: report.action for report in output.files}
    assert actions == {
        "src/util.py": PatchAction.ADDED,
        "old.txt": PatchAction.DELETED,
        "README.md": PatchAction.UPDATED,
    }


def test_move_to_with_and_without_changes() -> None:
    body = patch(
        "*** Update File: src/app.py",
        "*** Move to: src/main.py",
        "@@ def helper():",
        "-    return 1",
        "+    return 2",
    )
    output, files = applied(body)
    assert "src/app.py" not in files
    assert files["src/main.py"] == APP.replace(b"return 1", b"return 2")
    [report] = output.files
    assert report.action is PatchAction.MOVED and report.moved_from == "src/app.py"
    _, files = applied(patch("*** Update File: old.txt", "*** Move to: archive/old.txt"))
    assert files["archive/old.txt"] == b"bye\n" and "old.txt" not in files


def test_several_anchors_narrow_the_scope() -> None:
    code = b"class A:\n    def run(self):\n        x = 1\n\n"
    code += b"class B:\n    def run(self):\n        x = 1\n"
    body = patch(
        "*** Update File: c.py",
        "@@ class B:",
        "@@     def run(self):",
        "-        x = 1",
        "+        x = 2",
    )
    _, files = applied(body, {"c.py": code})
    assert files["c.py"] == code[: code.rindex(b"1")] + b"2\n"


def test_chunks_apply_in_file_order_each_after_the_previous() -> None:
    code = b"x = 0\na = 1\nmid\na = 1\n"
    body = patch(
        "*** Update File: c.py", "@@", " x = 0", " a = 1", "-mid", "+MID", "@@", "-a = 1", "+a = 2"
    )
    _, files = applied(body, {"c.py": code})
    assert files["c.py"] == b"x = 0\na = 1\nMID\na = 2\n"
    body = patch("*** Update File: c.py", "@@", "-mid", "+MID", "@@", " x = 0", "+y = 0")
    assert "where the previous chunk ended" in refused(body, {"c.py": code})


def test_first_chunk_without_an_at_line_and_blank_lines_between_chunks() -> None:
    body = patch(
        "*** Update File: src/app.py",
        " def main():",
        '-    print("hi")',
        '+    print("yo")',
        "",
        "@@ def helper():",
        "-    return 1",
        "+    return 3",
    )
    _, files = applied(body)
    assert files["src/app.py"] == APP.replace(b'"hi"', b'"yo"').replace(b"return 1", b"return 3")


def test_an_empty_line_in_a_chunk_is_an_empty_context_line() -> None:
    chunk = ["@@", "     return 0", "", "", "-def helper():", "+def assist():"]
    _, files = applied(patch("*** Update File: src/app.py", *chunk))
    assert files["src/app.py"] == APP.replace(b"def helper", b"def assist")


def test_end_of_file_chunks() -> None:
    body = patch(
        "*** Update File: src/app.py", "@@", "-    return 1", "+    return 5", "*** End of File"
    )
    _, files = applied(body)
    assert files["src/app.py"].endswith(b"    return 5\n")
    body = patch(
        "*** Update File: src/app.py",
        "@@",
        "+",
        "+if __name__ == '__main__':",
        "+    main()",
        "*** End of File",
    )
    _, files = applied(body)
    assert files["src/app.py"] == APP + b"\nif __name__ == '__main__':\n    main()\n"
    body = patch(
        "*** Update File: src/app.py", "@@", "-import os", "+import sys", "*** End of File"
    )
    assert "must end the file" in refused(body)


def test_a_pure_addition_goes_after_its_anchor_not_at_the_end() -> None:
    body = patch("*** Update File: src/app.py", "@@ def main():", '+    """Entry point."""')
    _, files = applied(body)
    assert files["src/app.py"] == APP.replace(
        b"def main():\n", b'def main():\n    """Entry point."""\n'
    )
    error = refused(patch("*** Update File: src/app.py", "+x = 1"))
    assert "nothing says where they go" in error


def test_envelope_may_be_wrapped_in_a_fence_or_a_here_document() -> None:
    inner = patch("*** Update File: old.txt", "-bye", "+ciao")
    for wrapped in (f"```\n{inner}```\n", f"apply_patch <<'EOF'\n{inner}EOF\n"):
        _, files = applied(wrapped)
        assert files["old.txt"] == b"ciao\n"


def test_whitespace_and_punctuation_tiers_locate_but_never_change_the_bytes_written() -> None:
    text = "title = “Hello” – world   \n    value = 1\n".encode()
    body = patch(
        "*** Update File: t.py",
        '-title = "Hello" - world',
        '+title = "Bye" - world',
        "-value = 1",
        "+value = 2",
    )
    output, files = applied(body, {"t.py": text})
    assert files["t.py"] == b'title = "Bye" - world\nvalue = 2\n'
    assert output.files[0].chunks[0].tier is EditTier.PUNCTUATION


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("*** Update File: old.txt\n-bye\n+ciao\n*** End Patch\n", "starts with a *** Begin Patch"),
        ("*** Begin Patch\n*** Update File: old.txt\n-bye\n+ciao\n", "no *** End Patch"),
        (patch("*** Update File: old.txt", "-bye", "ciao"), "line 4 of the patch"),
        (patch("*** Add File: new.txt", "hello"), "starts with +"),
        (patch("*** Delete File: old.txt", "+x"), "takes no lines"),
        (patch("*** Rename File: old.txt"), "expected *** Add File"),
        (patch("*** Update File: old.txt"), "has no chunks"),
        (patch("*** Update File: old.txt", "@@ bye"), "no chunk lines"),
        (patch("*** Update File: old.txt", " bye"), "changes nothing"),
        ("prose\n" + patch("*** Delete File: old.txt"), "stands outside"),
        (patch("*** Add File: "), "needs a path"),
    ],
)
def test_malformed_patches_are_refused_with_their_line(body: str, message: str) -> None:
    assert message in refused(body)


def test_ambiguous_chunks_are_refused_with_line_numbers() -> None:
    code = b"x = 1\ny = 2\nx = 1\n"
    error = refused(patch("*** Update File: c.py", "-x = 1", "+x = 3"), {"c.py": code})
    assert "ambiguous" in error and "lines 1, 3" in error and "chunk 1 of 1" in error


def test_missing_context_and_files_are_refused() -> None:
    assert "not in the file" in refused(patch("*** Update File: old.txt", "-hello", "+x"))
    assert "does not exist" in refused(patch("*** Update File: nope.txt", "-a", "+b"))
    assert "does not exist" in refused(patch("*** Delete File: nope.txt"))
    assert "already exists" in refused(patch("*** Add File: old.txt", "+x"))
    body = patch("*** Update File: old.txt", "*** Move to: README.md", "-bye", "+x")
    assert "exists; delete it first" in refused(body)
    assert "is a directory" in refused(patch("*** Delete File: src"))


def test_add_or_move_onto_a_file_the_patch_deleted_first() -> None:
    body = patch("*** Delete File: README.md", "*** Add File: README.md", "+# New")
    output, files = applied(body)
    assert files["README.md"] == b"# New\n"
    assert [report.action for report in output.files] == [PatchAction.UPDATED]
    body = patch("*** Delete File: README.md", "*** Update File: old.txt", "*** Move to: README.md")
    _, files = applied(body)
    assert files["README.md"] == b"bye\n" and "old.txt" not in files


def test_one_failing_file_refuses_the_whole_patch() -> None:
    body = patch(
        "*** Add File: new.txt",
        "+fresh",
        "*** Delete File: old.txt",
        "*** Update File: src/app.py",
        "-    not here at all",
        "+    x",
    )
    error = refused(body)
    assert error.startswith("line 5 of the patch (*** Update File: src/app.py): chunk 1 of 1")


# --- line endings ---------------------------------------------------------------------------


def test_crlf_files_stay_crlf_and_keep_their_final_newline() -> None:
    crlf = b"one\r\ntwo\r\nthree"
    _, files = applied(
        patch("*** Update File: w.txt", " one", "-two", "+deux", "+zwei", " three"), {"w.txt": crlf}
    )
    assert files["w.txt"] == b"one\r\ndeux\r\nzwei\r\nthree"
    _, files = applied(
        patch("*** Update File: w.txt", "@@", "+four", "*** End of File"), {"w.txt": crlf}
    )
    assert files["w.txt"] == b"one\r\ntwo\r\nthree\r\nfour"


def test_a_crlf_patch_body_adds_crlf_files() -> None:
    body = patch("*** Add File: n.txt", "+a", "+b").replace("\n", "\r\n")
    _, files = applied(body, {})
    assert files["n.txt"] == b"a\r\nb\r\n"


# --- atomicity across files -------------------------------------------------------------------


class FailingFileSystem(MemoryFileSystem):
    """Fails the ``fail_at``-th write commit (1-based) or every remove; counts restores."""

    def __init__(
        self, files: dict[str, bytes], *, fail_at: int = 0, fail_remove: bool = False
    ) -> None:
        super().__init__(files)
        self.commits = 0
        self.fail_at = fail_at
        self.fail_remove = fail_remove

    def _commit(self, key: str, data: bytes) -> Any:
        self.commits += 1
        if self.commits == self.fail_at:
            raise FileSystemError(ErrorCode.IO_ERROR, f"disk full writing {key}", path=key)
        return super()._commit(key, data)

    def remove(self, path: str) -> None:
        if self.fail_remove:
            raise FileSystemError(ErrorCode.PERMISSION_DENIED, f"{path}: read-only", path=path)
        super().remove(path)


THREE_FILES = patch(
    "*** Add File: a.txt",
    "+A",
    "*** Update File: README.md",
    "-Some text.",
    "+Other text.",
    "*** Update File: old.txt",
    "*** Move to: new.txt",
    "-bye",
    "+hello",
)


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_write_failing_midway_restores_the_files_already_written(fail_at: int) -> None:
    vfs = FailingFileSystem(dict(FILES), fail_at=fail_at)
    output = (
        Engine(vfs, ScriptedTerminal()).execute_turn(command("apply_patch", THREE_FILES)).outputs[0]
    )
    assert not output.ok and "disk full" in (output.error or "")
    assert "nothing was changed" in (output.error or "")
    for path, data in FILES.items():
        assert vfs.read(path) == data
    for path in ("a.txt", "new.txt"):
        with pytest.raises(FileSystemError):
            vfs.read(path)


def test_a_remove_failing_restores_everything_and_says_so() -> None:
    vfs = FailingFileSystem(dict(FILES), fail_remove=True)
    output = (
        Engine(vfs, ScriptedTerminal()).execute_turn(command("apply_patch", THREE_FILES)).outputs[0]
    )
    assert not output.ok and "removing old.txt failed" in (output.error or "")
    assert "restoring failed for" in (output.error or "")  # the added a.txt cannot be removed
    assert vfs.read("README.md") == FILES["README.md"]


# --- parsing values and chunking --------------------------------------------------------------


def test_parse_patch_values() -> None:
    operations = parse_patch(
        patch(
            "*** Add File: a",
            "+x",
            "*** Delete File: b",
            "*** Update File: c",
            "*** Move to: d",
            "@@ k",
            "-y",
            "+z",
        )
    )
    assert not isinstance(operations, PatchProblem)
    add, delete, update = operations
    assert add == AddFile(path="a", lines=("x",), body_line=2)
    assert delete == DeleteFile(path="b", body_line=4)
    assert isinstance(update, UpdateFile) and update.move_to == "d"
    assert update.hunks[0].anchors == ("k",) and update.hunks[0].old == ["y"]


CONFIG = ParserConfig(
    command_tags=ParserConfig().command_tags | {"apply_patch"},
    raw_tags=ParserConfig().raw_tags | {"apply_patch"},
)
REPLY = (
    "I will rename and update.\n<apply_patch>\n"
    + patch(
        "*** Update File: src/app.py",
        "*** Move to: src/main.py",
        "@@ def main():",
        '-    print("hi")',
        '+    print("hi </apply_pat <b> &amp;")',
        "*** Add File: notes.md",
        "+# Notes",
        "*** Delete File: old.txt",
    )
    + "</apply_patch>\nDone.\n"
).encode()


def _run_reply(chunks: list[bytes]) -> tuple[str, dict[str, bytes]]:
    parser = InstructionParser(CONFIG)
    vfs = MemoryFileSystem(dict(FILES))
    engine = Engine(vfs, ScriptedTerminal())
    instructions = [item for chunk in chunks for item in parser.feed(chunk)] + parser.finish()
    turn = engine.execute_turn(instructions)
    files = {path: vfs.read(path) for path in ("src/main.py", "notes.md", "README.md")}
    return "\n\n".join(output.render() for output in turn.outputs), files


WHOLE = _run_reply([REPLY])


def test_the_whole_reply_applies() -> None:
    rendered, files = WHOLE
    assert rendered.startswith("[apply_patch] ok: 3 files changed"), rendered
    assert b'print("hi </apply_pat <b> &amp;")' in files["src/main.py"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_of_the_reply_gives_the_same_result(data: st.DataObject) -> None:
    assert _run_reply(data.draw(chunkings(REPLY))) == WHOLE


def test_unknown_attributes_and_failures_carry_the_tags_position() -> None:
    parser = InstructionParser(CONFIG)
    reply = (
        b'text\n<apply_patch dry_run="yes">\n'
        + patch("*** Delete File: old.txt").encode()
        + b"</apply_patch>\n"
    )
    vfs = MemoryFileSystem(dict(FILES))
    [output] = (
        Engine(vfs, ScriptedTerminal()).execute_turn(parser.feed(reply) + parser.finish()).outputs
    )
    assert not output.ok and output.position is not None and output.position.line == 2
    assert 'dry_run="yes"' in (output.error or "") and "takes no attributes" in (output.error or "")
    assert "(line 2, column 1)" in output.render()
    assert vfs.read("old.txt") == b"bye\n"


PATCH_ALPHABET = st.sampled_from(
    [
        "*** Begin Patch",
        "*** End Patch",
        "*** Add File: a",
        "*** Update File: old.txt",
        "*** Delete File: old.txt",
        "*** Move to: b",
        "*** End of File",
        "@@",
        "@@ bye",
        "+x",
        "-bye",
        " bye",
        "",
        "\\ No newline at end of file",
        "```",
        "junk",
    ]
)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(PATCH_ALPHABET, max_size=14))
def test_any_patch_text_gives_a_result_never_an_exception(lines: list[str]) -> None:
    body = "\n".join(lines)
    assert isinstance(parse_patch(body), tuple | PatchProblem)
    output, files = apply(body)
    if not output.ok:
        assert files == FILES
