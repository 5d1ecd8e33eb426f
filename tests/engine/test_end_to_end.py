"""Parser → engine: a model's raw reply, whole and in arbitrary chunks, gives the same results."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_engine import ApplyEditOutput, NoticeOutput
from sa3p_engine.testing import CONFORMANCE_COMMANDS
from sa3p_parser import Instruction, InstructionParser

from .engine_helpers import make_engine

REPLY = b"""\
I'll create the file. `<terminal>rm -rf /</terminal>` is only an example.
<write_file path="page.html">
<p>Fish &amp; chips</p>
<script>if (a < b && c) {}</script>
</write_file>
<apply_edit path="page.html">
<search>
<p>Fish &amp; chips</p>
</search>
<replace>
<p>Fish &amp; chips &amp; peas</p>
</replace>
</apply_edit>
<apply_edit path="page.html">
<<<<<<< SEARCH
<script>if (a < b && c) {}</script>
=======
<script>if (a <= b && c) {}</script>
>>>>>>> REPLACE
</apply_edit>
<write_file path="tpl.xml"><![CDATA[<write_file path="x">nested</write_file>]]></write_file>
<read_file path="page.html"/>
<terminal timeout="5">printf hello</terminal>
Now a cut-off write:
<write_file path="cut.txt">half
"""


def run(chunks: list[bytes]) -> tuple[str, dict[str, bytes]]:
    engine, vfs, _ = make_engine(scripts=dict(CONFORMANCE_COMMANDS))
    parser = InstructionParser()
    instructions: list[Instruction] = []
    for chunk in chunks:
        instructions += parser.feed(chunk)
    instructions += parser.finish()
    result = engine.execute_turn(instructions)
    files = {node.path: vfs.read(node.path) for node in vfs.list_tree(".")}
    return result.render(), files


def test_a_whole_reply_runs_every_command() -> None:
    engine, vfs, _ = make_engine()
    parser = InstructionParser()
    result = engine.execute_turn([*parser.feed(REPLY), *parser.finish()])
    kinds = [(output.command, output.ok) for output in result.outputs]
    assert kinds == [
        ("terminal", False),  # the quoted example: a notice
        ("write_file", True),
        ("apply_edit", True),
        ("apply_edit", True),
        ("write_file", True),
        ("read_file", True),
        ("terminal", True),
        ("write_file", False),  # cut off: nothing written
    ]
    assert isinstance(result.outputs[0], NoticeOutput)
    assert isinstance(result.outputs[3], ApplyEditOutput)
    assert vfs.read("page.html") == (
        b"<p>Fish &amp; chips &amp; peas</p>\n<script>if (a <= b && c) {}</script>\n"
    )
    assert vfs.read("tpl.xml") == b'<write_file path="x">nested</write_file>'
    assert "cut.txt" not in {node.path for node in vfs.list_tree(".")}


def test_unified_diff_through_the_parser() -> None:
    engine, vfs, _ = make_engine({"a.py": b"x = 1\ny = 2\n"})
    parser = InstructionParser()
    reply = b'<apply_edit path="a.py">\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n</apply_edit>'
    result = engine.execute_turn([*parser.feed(reply), *parser.finish()])
    assert result.outputs[0].ok, result.render()
    assert vfs.read("a.py") == b"x = 1\ny = 3\n"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(REPLY)), max_size=12))
def test_byte_chunking_of_the_reply_never_changes_the_results(cuts: list[int]) -> None:
    points = sorted({0, len(REPLY), *cuts})
    chunks = [REPLY[a:b] for a, b in itertools.pairwise(points)]
    assert run(chunks) == run([REPLY])


def test_byte_by_byte() -> None:
    assert run([REPLY[i : i + 1] for i in range(len(REPLY))]) == run([REPLY])
