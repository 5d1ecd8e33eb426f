"""The in-memory backends pass the conformance checks they ship."""

from __future__ import annotations

import pytest

from sa3p_engine import TerminalProvider, VirtualFileSystem
from sa3p_engine.testing import (
    TERMINAL_CONFORMANCE,
    VFS_CONFORMANCE,
    ConformanceCheck,
    MemoryFileSystem,
    ScriptedTerminal,
)


@pytest.mark.parametrize("check", VFS_CONFORMANCE, ids=str)
def test_memory_filesystem_conforms(check: ConformanceCheck[VirtualFileSystem]) -> None:
    filesystem = MemoryFileSystem()
    assert isinstance(filesystem, VirtualFileSystem)
    check.run(filesystem)


@pytest.mark.parametrize("check", TERMINAL_CONFORMANCE, ids=str)
def test_scripted_terminal_conforms(check: ConformanceCheck[TerminalProvider]) -> None:
    terminal = ScriptedTerminal.for_conformance()
    assert isinstance(terminal, TerminalProvider)
    try:
        check.run(terminal)
    finally:
        terminal.close()


def test_a_broken_backend_fails_with_a_clear_message() -> None:
    class Forgetful(MemoryFileSystem):
        def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
            return b""

    check = next(item for item in VFS_CONFORMANCE if item.name == "write_then_read")
    with pytest.raises(AssertionError, match="read should return the committed bytes"):
        check.run(Forgetful())


def test_bash_terminal_commands_are_portable() -> None:
    """The scripted outputs are what bash prints for the same commands."""
    import subprocess

    from sa3p_engine.testing import CONFORMANCE_COMMANDS

    for command, script in CONFORMANCE_COMMANDS.items():
        if script.exit_code is None:
            continue
        done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=10, check=False)
        assert done.returncode == script.exit_code
        assert done.stdout + done.stderr == script.output
