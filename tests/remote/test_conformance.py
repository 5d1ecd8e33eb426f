"""RemoteVfs and RemoteTerminal pass the engine's conformance checks, over Unix and TCP."""

from __future__ import annotations

import pytest

from sa3p_engine import TerminalProvider, VirtualFileSystem
from sa3p_engine.testing import TERMINAL_CONFORMANCE, VFS_CONFORMANCE, ConformanceCheck
from sa3p_host import open_remote_backends

from .helpers import RunningGuest


@pytest.mark.parametrize("check", VFS_CONFORMANCE, ids=str)
def test_remote_vfs_conformance(
    check: ConformanceCheck[VirtualFileSystem], any_guest: RunningGuest
) -> None:
    with open_remote_backends(any_guest.address) as (vfs, _terminal):
        check.run(vfs)


@pytest.mark.parametrize("check", TERMINAL_CONFORMANCE, ids=str)
def test_remote_terminal_conformance(
    check: ConformanceCheck[TerminalProvider], any_guest: RunningGuest
) -> None:
    with open_remote_backends(any_guest.address) as (_vfs, terminal):
        try:
            check.run(terminal)
        finally:
            terminal.close()


def test_remote_backends_satisfy_the_protocols(unix_guest: RunningGuest) -> None:
    with open_remote_backends(unix_guest.address) as (vfs, terminal):
        assert isinstance(vfs, VirtualFileSystem)
        assert isinstance(terminal, TerminalProvider)
