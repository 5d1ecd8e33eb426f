"""Parser → Engine → LocalVfs/LocalTerminal in one process, on temporary workspaces."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_engine import CommandOutput, Engine, TerminalOutput
from sa3p_host import LocalTerminal, LocalVfs
from sa3p_parser import InstructionParser

DOCUMENT = b"""Plan: write, edit, check.
<write_file path="pkg/util.py">
def add(a, b):
    return a - b
</write_file>
<apply_edit path="pkg/util.py">
<search>    return a - b</search>
<replace>    return a + b</replace>
</apply_edit>
<write_file path="page.html">&amp; <b>bold</b> &lt;</write_file>
<read_file path="pkg/util.py"/>
<list_files path="pkg"/>
<terminal>python3 -c "from pkg.util import add; print(add(2, 3))"</terminal>
"""


def _run(document: bytes, cuts: list[int], workspace: Path) -> list[CommandOutput]:
    points = sorted({min(c, len(document)) for c in cuts})
    chunks = [document[a:b] for a, b in zip([0, *points], [*points, len(document)], strict=True)]
    parser = InstructionParser()
    outputs: list[CommandOutput] = []
    with Engine(LocalVfs(workspace), LocalTerminal(workspace)) as engine:
        for chunk in chunks:
            for instruction in parser.feed(chunk):
                outputs += engine.feed(instruction)
        for instruction in parser.finish():
            outputs += engine.feed(instruction)
        turn = engine.finish_turn()
    assert list(turn.outputs) == outputs
    return outputs


def _comparable(output: CommandOutput) -> str:
    text = output.render()
    return text.split(", ", 1)[0] if output.command == "terminal" else text


def test_a_whole_reply_acts_on_the_workspace(tmp_path: Path) -> None:
    outputs = _run(DOCUMENT, [], tmp_path)
    assert [o.ok for o in outputs] == [True] * 6, [o.render() for o in outputs]
    assert (tmp_path / "pkg" / "util.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (tmp_path / "page.html").read_bytes() == b"&amp; <b>bold</b> &lt;"
    last = outputs[-1]
    assert isinstance(last, TerminalOutput)
    assert (last.exit_code, last.output) == (0, "5\n")


@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(0, len(DOCUMENT)), max_size=12))
def test_chunk_boundaries_do_not_change_results(cuts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as whole, tempfile.TemporaryDirectory() as split:
        expected = [_comparable(o) for o in _run(DOCUMENT, [], Path(whole))]
        assert [_comparable(o) for o in _run(DOCUMENT, cuts, Path(split))] == [
            e.replace(whole, split) for e in expected
        ]
        written = [Path(top, "pkg", "util.py").read_bytes() for top in (whole, split)]
        assert written[0] == written[1]


def test_byte_by_byte_streaming(tmp_path: Path) -> None:
    outputs = _run(DOCUMENT, list(range(len(DOCUMENT))), tmp_path)
    assert all(o.ok for o in outputs)


def test_confinement_failures_are_results_not_crashes(tmp_path: Path) -> None:
    document = (
        b'<write_file path="../escape.txt">x</write_file>'
        b'<read_file path="/etc/passwd"/>'
        b'<list_files path=".."/>'
        b'<write_file path="ok.txt">fine</write_file>'
    )
    (tmp_path / "ws").mkdir()
    outputs = _run(document, [], tmp_path / "ws")
    assert [o.ok for o in outputs] == [False, False, False, True]
    assert "../escape.txt" in (outputs[0].error or "")
    assert not (tmp_path / "escape.txt").exists()
