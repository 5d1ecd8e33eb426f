"""Details of the in-memory backends beyond the conformance checks."""

from __future__ import annotations

import pytest

from sa3p_engine import ErrorCode, FileSystemError, NodeKind, TerminalError
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal


def test_memory_paths_normalize_and_stay_confined() -> None:
    vfs = MemoryFileSystem({"a/b.txt": b"x"})
    assert vfs.read("./a//b.txt") == vfs.read("/workspace/a/b.txt") == b"x"
    assert vfs.stat(".").kind is NodeKind.DIRECTORY
    for path in ("/etc/passwd", "../x", "a/../../x", "/workspace/../x"):
        with pytest.raises(FileSystemError) as caught:
            vfs.read(path)
        assert caught.value.code is ErrorCode.OUTSIDE_WORKSPACE
    with pytest.raises(FileSystemError) as nul:
        vfs.read("a\x00b")
    assert nul.value.code is ErrorCode.INVALID_PATH


def test_initial_files_are_not_recent_and_reads_count_as_recent() -> None:
    vfs = MemoryFileSystem({"a.txt": b"1", "b.txt": b"2"})
    assert vfs.recent_file_hashes(5) == []
    vfs.read("b.txt")
    assert [h.path for h in vfs.recent_file_hashes(5)] == ["b.txt"]
    assert not any(node.modified_recently for node in vfs.list_tree("."))


def test_scripted_terminal_unknown_command_is_127_and_closed_refuses() -> None:
    terminal = ScriptedTerminal({"ok": ScriptedCommand()})
    result = terminal.run("nope", timeout=1)
    assert result.exit_code == 127 and b"no script for 'nope'" in result.head
    terminal.close()
    with pytest.raises(TerminalError) as caught:
        terminal.run("ok", timeout=1)
    assert caught.value.code is ErrorCode.CLOSED


def test_scripted_non_stopping_signal_keeps_the_process() -> None:
    terminal = ScriptedTerminal({"serve": ScriptedCommand(exit_code=None)})
    pid = terminal.run("serve", timeout=1).pid
    assert not terminal.signal(pid, 10).exited and terminal.active_pids() == [pid]
