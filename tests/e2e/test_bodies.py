"""REFERENCE items 1, 2, 3, 5, 6: file bodies arrive intact, whatever the chunking or content.

1. a body containing its own close tag (CDATA escape); 2. close tags and `<` split across
chunks; 3. entities never decoded in file content; 5. unknown tags are text; 6. a cut-off
stream writes nothing and says so.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_engine import WriteFileOutput
from sa3p_parser import ParseProblem, ProblemKind, Text
from tests.host.host_helpers import staged_bytes

from ..waiting import wait_until
from .e2e_support import (
    ONE_RUN,
    PROCESS_SECONDS,
    SA3P,
    files_in,
    random_chunks,
    rendered,
    run_cli,
    run_in_process,
    split_at,
)

HTML = (
    b'<!DOCTYPE html>\n<html lang="en">\n<head><title>Tom &amp; Jerry &lt;3</title></head>\n'
    b'<body>\n  <p class="note">5 &gt; 3 &amp;&amp; 2 &lt; 4 &nbsp;&copy; &#169; &#x263A;</p>\n'
    b'  <a href="/search?q=a&amp;b=c">link</a>\n  <script>if (a < b && c > d) {}</script>\n'
    b"</body>\n</html>\n"
)
XML = b'<?xml version="1.0"?>\n<doc attr="&quot;x&quot;">&lt;tag/&gt; &amp;amp;</doc>\n'
TEMPLATE = b'<template>\n  <write_file path="{{ name }}">{{ body }}</write_file>\n</template>\n'
"""A file that itself contains the command's close tag: only CDATA can carry it."""

REPLY = (
    b"I'll create the page, its feed and the generator template.\n\n"
    b'<write_file path="site/index.html">\n' + HTML + b"</write_file>\n"
    b'<write_file path="site/feed.xml">\n' + XML + b"</write_file>\n"
    b"The template contains a write_file tag, so it goes in a CDATA section:\n"
    b'<write_file path="site/cmd.tmpl">\n<![CDATA[' + TEMPLATE + b"]]>\n</write_file>\n"
    b'Note that a < b, that <div class="x">is not a command</div>, <br/> and </p> are prose.\n'
    b"Done.\n"
)
EXPECTED_FILES = {
    "site/cmd.tmpl": TEMPLATE,
    "site/feed.xml": XML,
    "site/index.html": HTML,
}


def _check_written(workspace: Path) -> None:
    assert files_in(workspace) == EXPECTED_FILES


def test_entities_in_html_and_xml_are_written_byte_for_byte_by_the_cli(tmp_path: Path) -> None:
    run = run_cli(tmp_path, REPLY, "--json")
    assert run.returncode == 0, run.stderr
    assert [(o["command"], o["ok"], o["path"]) for o in run.outputs] == [
        ("write_file", True, "site/index.html"),
        ("write_file", True, "site/feed.xml"),
        ("write_file", True, "site/cmd.tmpl"),
    ]
    _check_written(tmp_path)
    for output in run.outputs:
        content = (tmp_path / output["path"]).read_bytes()
        assert output["sha256"] == hashlib.sha256(content).hexdigest()
        assert output["bytes_written"] == len(content)


def test_a_body_containing_its_own_close_tag_survives_via_cdata(tmp_path: Path) -> None:
    reply = (
        b'<write_file path="doc/how-to.md">\n<![CDATA[Write files like this:\n\n'
        b'    <write_file path="a.txt">text</write_file>\n\n'
        b"A CDATA end ]]> inside is content too.\n]]>\n</write_file>\n"
    )
    run = run_in_process(tmp_path, [reply])
    assert [o.ok for o in run.turn.outputs] == [True], rendered(run.turn.outputs)
    assert (tmp_path / "doc/how-to.md").read_bytes() == (
        b'Write files like this:\n\n    <write_file path="a.txt">text</write_file>\n\n'
        b"A CDATA end ]]> inside is content too.\n"
    )


def test_an_unescaped_close_tag_in_a_body_is_not_silent(tmp_path: Path) -> None:
    # Without CDATA the first </write_file> ends the body (that is the language); the model must
    # then hear about the stray close tag left over, rather than get a clean success.
    reply = b'<write_file path="a.md">use </write_file> to end</write_file>\n'
    run = run_in_process(tmp_path, [reply])
    assert (tmp_path / "a.md").read_bytes() == b"use "
    failures = [o for o in run.turn.outputs if not o.ok]
    assert len(failures) == 1
    assert "</write_file>" in (failures[0].error or "")


def test_a_reply_piped_in_small_random_chunks_gives_the_same_files(tmp_path: Path) -> None:
    chunks = random_chunks(REPLY, seed=20261121, largest=9)
    run = run_cli(tmp_path, chunks, "--json", pause=0.0005)
    assert run.returncode == 0, run.stderr
    assert [o["ok"] for o in run.outputs] == [True, True, True]
    _check_written(tmp_path)


def test_split_inside_the_close_tag_and_the_cdata_marker_through_the_cli(tmp_path: Path) -> None:
    chunks = split_at(
        REPLY, b"</wri", b'<write_file path="site/fe', b"<![CD", b"]]", b"a <", b"<di"
    )
    run = run_cli(tmp_path, chunks, "--json", pause=0.05)
    assert run.returncode == 0, run.stderr
    assert [o["ok"] for o in run.outputs] == [True, True, True]
    _check_written(tmp_path)


def test_every_two_chunk_split_gives_the_same_result() -> None:
    reply = (
        b"If a < b then\n"
        b'<write_file path="x.html"><p>&amp; a < b</p></write_fil></write_file>\n'
        b'<div>ok</div> <write_file path="y.xml">\n<![CDATA[</write_file>]]>\n</write_file>'
    )
    expected = {"x.html": b"<p>&amp; a < b</p></write_fil>", "y.xml": b"</write_file>"}
    with tempfile.TemporaryDirectory() as top:
        for cut in range(len(reply) + 1):
            workspace = Path(top, str(cut))
            workspace.mkdir()
            run = run_in_process(workspace, [reply[:cut], reply[cut:]])
            assert [o.ok for o in run.turn.outputs] == [True, True], (cut, rendered(run.streamed))
            assert files_in(workspace) == expected, cut


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), largest=st.integers(1, 40))
def test_random_chunkings_in_process_match_the_whole_reply(seed: int, largest: int) -> None:
    with tempfile.TemporaryDirectory() as top:
        run = run_in_process(Path(top), random_chunks(REPLY, seed, largest))
        assert all(isinstance(o, WriteFileOutput) for o in run.turn.outputs)
        assert files_in(Path(top)) == EXPECTED_FILES


def test_unknown_tags_and_comparisons_pass_through_as_text(tmp_path: Path) -> None:
    prose = (
        'Wrap it in <div class="card"> and close with </div>; <br/> breaks a line.\n'
        "Since a < b and b > c, <search> outside an edit, <!-- a comment --> and &amp; stay.\n"
        "x <"
    )
    run = run_in_process(tmp_path, random_chunks(prose.encode(), seed=5, largest=3))
    assert run.turn.outputs == ()
    text = "".join(i.text for i in run.instructions if isinstance(i, Text))
    assert text == prose
    assert not [i for i in run.instructions if isinstance(i, ParseProblem)]


def test_commands_inside_unknown_tags_still_run(tmp_path: Path) -> None:
    reply = b'<div class="step"><write_file path="a.txt">a < b</write_file></div>'
    run = run_in_process(tmp_path, [reply])
    assert [o.ok for o in run.turn.outputs] == [True]
    assert (tmp_path / "a.txt").read_bytes() == b"a < b"


def test_a_cut_off_write_leaves_the_old_file_and_reports_it(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_bytes(b"print('old and complete')\n")
    reply = (
        b'Rewriting app.py:\n<write_file path="app.py">\nimport sys\n\ndef main():\n    print("new'
    )
    run = run_cli(tmp_path, random_chunks(reply, seed=3, largest=16), "--json", pause=0.0005)
    assert run.returncode == 0, run.stderr
    (failure,) = run.outputs
    assert (failure["command"], failure["ok"], failure["subject"]) == (
        "write_file",
        False,
        "app.py",
    )
    assert "nothing was written" in failure["error"]
    assert "line 2" in failure["error"]  # where the unfinished command was opened
    assert files_in(tmp_path) == {"app.py": b"print('old and complete')\n"}  # no temp leftovers
    assert run.header["recent_hashes"] == []  # the header claims no write either


def test_a_cut_off_new_file_is_never_created(tmp_path: Path) -> None:
    run = run_cli(tmp_path, b'<write_file path="new/deep/file.txt">half of it', "--json")
    assert run.returncode == 0
    assert [o["ok"] for o in run.outputs] == [False]
    assert files_in(tmp_path) == {}


def test_a_cut_off_edit_or_command_does_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"one\n")
    for reply in (
        b'<apply_edit path="a.txt"><search>one</search><replace>two</replace>',
        b"<terminal>touch ran.txt</terminal",
        b'<write_file path="b.txt">body</write_file',
        b'<write_file path="c.txt',
        b'<write_file path="d.txt">\n<![CDATA[<p>done</p>]]>\n</write_fi',
        b'<apply_edit path="a.txt"><search><![CDATA[one]]></search><replace><![CDATA[two',
    ):
        run = run_in_process(tmp_path, [reply])
        assert [o.ok for o in run.turn.outputs] == [False], reply
        (failure,) = run.turn.outputs
        # One failure, naming the command itself (not its unclosed <replace> part).
        opening = (f"<{failure.command} ".encode(), f"<{failure.command}>".encode())
        assert reply.startswith(opening), failure.render()
        problems = [i for i in run.instructions if isinstance(i, ParseProblem)]
        assert {p.kind for p in problems} <= {
            ProblemKind.UNCLOSED_COMMAND,
            ProblemKind.UNTERMINATED_TAG,
        }
    assert files_in(tmp_path) == {"a.txt": b"one\n"}


def test_shell_syntax_with_angle_brackets_and_ampersands_reaches_the_shell_intact(
    tmp_path: Path,
) -> None:
    reply = (
        b"<terminal>\ncat <<'EOF' > notes.txt\na < b && c > d &amp; </terminal-ish>\nEOF\n"
        b'test 1 -lt 2 && echo "1 < 2" 2>&1 | cat && wc -c < notes.txt\n</terminal>'
    )
    run = run_cli(tmp_path, random_chunks(reply, seed=11, largest=6), "--json", pause=0.0005)
    (output,) = run.outputs
    assert (output["exit_code"], output["output"]) == (0, "1 < 2\n37\n")
    assert (tmp_path / "notes.txt").read_bytes() == b"a < b && c > d &amp; </terminal-ish>\n"


def test_sa3p_stopped_mid_write_leaves_nothing_behind(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*SA3P, "run", "--workspace", str(tmp_path), *ONE_RUN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(b'<write_file path="big.txt">' + b"x" * 3_000_000)
        process.stdin.flush()
        streaming = "the body streaming into its (unnamed) staged file"
        wait_until(lambda: staged_bytes(process.pid, str(tmp_path)) > 0, PROCESS_SECONDS, streaming)
        assert not (tmp_path / "big.txt").exists()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=PROCESS_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1
    assert b"interrupted" in stderr
    assert files_in(tmp_path) == {}
