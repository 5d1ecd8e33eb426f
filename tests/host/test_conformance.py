"""LocalVfs and LocalTerminal pass the engine's conformance checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sa3p_engine import TerminalProvider, VirtualFileSystem
from sa3p_engine.testing import TERMINAL_CONFORMANCE, VFS_CONFORMANCE, ConformanceCheck
from sa3p_host import LocalTerminal, LocalVfs


@pytest.mark.parametrize("check", VFS_CONFORMANCE, ids=str)
def test_local_vfs_conformance(check: ConformanceCheck[VirtualFileSystem], tmp_path: Path) -> None:
    check.run(LocalVfs(tmp_path))


@pytest.mark.parametrize("check", TERMINAL_CONFORMANCE, ids=str)
def test_local_terminal_conformance(
    check: ConformanceCheck[TerminalProvider], tmp_path: Path
) -> None:
    terminal = LocalTerminal(tmp_path)
    try:
        check.run(terminal)
    finally:
        terminal.close()


def test_local_backends_satisfy_the_protocols(tmp_path: Path) -> None:
    terminal = LocalTerminal(tmp_path)
    try:
        assert isinstance(LocalVfs(tmp_path), VirtualFileSystem)
        assert isinstance(terminal, TerminalProvider)
    finally:
        terminal.close()
