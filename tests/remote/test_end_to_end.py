"""Parser → Engine → RemoteVfs/RemoteTerminal → guest, compared with the local pair.

The same corpus of turns runs against a local workspace and a guest's workspace (over Unix and
TCP); the rendered outputs must be the same, apart from the workspace paths and a terminal's
duration.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_engine import CommandOutput, Engine, TerminalProvider, VirtualFileSystem
from sa3p_host import LocalTerminal, LocalVfs, open_remote_backends
from sa3p_parser import InstructionParser

from .helpers import RunningGuest, running_guest, short_socket_path

CORPUS: tuple[bytes, ...] = (
    b"""Plan: write, edit, check.
<write_file path="pkg/util.py">
def add(a, b):
    return a - b
</write_file>
<apply_edit path="pkg/util.py">
<search>    return a - b</search>
<replace>    return a + b</replace>
</apply_edit>
<read_file path="pkg/util.py"/>
<list_files path="pkg"/>
<terminal>PYTHONPATH=. python3 -c "import pkg.util as u; print(u.add(2, 3))"</terminal>
""",
    b'<write_file path="page.html">&amp; <b>bold</b> &lt;</write_file>'
    b'<read_file path="page.html"/><read_file path="missing.txt"/>',
    b'<write_file path="../escape.txt">x</write_file><list_files path=".."/>'
    b'<write_file path="ok.txt">fine</write_file><terminal>exit 4</terminal>',
    b"<terminal>printf 'a\\nb\\n'; printf err >&2</terminal>"
    b'<apply_edit path="nothing.py"><search>x</search><replace>y</replace></apply_edit>',
    b'<write_file path="big.txt">' + b"line of text\n" * 5000 + b"</write_file>"
    b'<read_file path="big.txt" start_line="4990"/>',
)

Backends = Callable[[Path], AbstractContextManager[tuple[VirtualFileSystem, TerminalProvider]]]


@contextmanager
def local_backends(workspace: Path) -> Iterator[tuple[VirtualFileSystem, TerminalProvider]]:
    yield LocalVfs(workspace), LocalTerminal(workspace)


def run_turn(
    document: bytes, cuts: list[int], pair: tuple[VirtualFileSystem, TerminalProvider]
) -> list[CommandOutput]:
    points = sorted({min(c, len(document)) for c in cuts})
    chunks = [document[a:b] for a, b in zip([0, *points], [*points, len(document)], strict=True)]
    parser = InstructionParser()
    outputs: list[CommandOutput] = []
    with Engine(*pair) as engine:
        for chunk in chunks:
            for instruction in parser.feed(chunk):
                outputs += engine.feed(instruction)
        for instruction in parser.finish():
            outputs += engine.feed(instruction)
        turn = engine.finish_turn()
    assert list(turn.outputs) == outputs
    return outputs


def comparable(output: CommandOutput, workspace: Path) -> str:
    root = workspace.resolve()
    text = output.render().replace(str(root), "<ws>").replace(str(root.parent), "<up>")
    return text.split(", ", 1)[0] if output.command == "terminal" else text


def outputs_of(document: bytes, cuts: list[int], workspace: Path, backends: Backends) -> list[str]:
    with backends(workspace) as pair:
        return [comparable(output, workspace) for output in run_turn(document, cuts, pair)]


def test_same_outputs_locally_and_remotely(any_guest: RunningGuest) -> None:
    def remote(
        workspace: Path,
    ) -> AbstractContextManager[tuple[VirtualFileSystem, TerminalProvider]]:
        return open_remote_backends(any_guest.address)

    for document in CORPUS:
        with tempfile.TemporaryDirectory() as local:
            expected = outputs_of(document, [], Path(local), local_backends)
            got = outputs_of(document, [], any_guest.workspace, remote)
            assert got == expected
            local_files = sorted(p.relative_to(local) for p in Path(local).rglob("*"))
            remote_files = sorted(
                p.relative_to(any_guest.workspace) for p in any_guest.workspace.rglob("*")
            )
            assert remote_files == local_files
        for path in sorted(any_guest.workspace.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()


def test_a_write_streams_and_lands_byte_exact(unix_guest: RunningGuest) -> None:
    body = (bytes(range(256)) * 4096).replace(b"<", b"") + b"\r\nend"  # a raw body, verbatim
    document = b'<write_file path="bin/data.bin">' + body + b"</write_file>"
    with open_remote_backends(unix_guest.address) as pair:
        outputs = run_turn(document, list(range(0, len(document), 7919)), pair)
    assert [o.ok for o in outputs] == [True]
    assert (unix_guest.workspace / "bin" / "data.bin").read_bytes() == body


@settings(max_examples=8, deadline=None)
@given(cuts=st.lists(st.integers(0, len(CORPUS[0])), max_size=10))
def test_chunk_boundaries_do_not_change_remote_results(cuts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as top:
        workspace = Path(top)
        with running_guest(f"unix:{short_socket_path()}", workspace) as guest:

            def remote(
                _: Path,
            ) -> AbstractContextManager[tuple[VirtualFileSystem, TerminalProvider]]:
                return open_remote_backends(guest.address)

            whole = outputs_of(CORPUS[0], [], workspace, remote)
            split = outputs_of(CORPUS[0], cuts, workspace, remote)
            assert split[0].replace("created", "replaced") == whole[0].replace(
                "created", "replaced"
            )
            assert split[1:] == whole[1:]


def test_a_file_name_that_is_not_utf8_is_listed_alike_locally_and_remotely(
    unix_guest: RunningGuest,
) -> None:
    # Any cloned repository may hold one: the listing shows it, nothing raises.
    os.close(os.open(os.fsencode(unix_guest.workspace) + b"/bad\xffname", os.O_CREAT, 0o644))
    document = b'<list_files/><write_file path="ok.txt">fine\n</write_file>'
    with open_remote_backends(unix_guest.address) as pair:
        remote = run_turn(document, [], pair)
    with tempfile.TemporaryDirectory() as local:
        os.close(os.open(os.fsencode(local) + b"/bad\xffname", os.O_CREAT, 0o644))
        with local_backends(Path(local)) as pair:
            here = run_turn(document, [], pair)
    for outputs in (remote, here):
        assert [output.ok for output in outputs] == [True, True]
        assert "bad\udcffname" in outputs[0].render()
        assert len(outputs[0].render().encode("utf-8", "surrogateescape")) > 0
