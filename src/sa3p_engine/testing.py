"""Test support shipped with the engine: in-memory backends and backend conformance checks.

``MemoryFileSystem`` and ``ScriptedTerminal`` let tests and examples run the engine with no OS.
``VFS_CONFORMANCE`` and ``TERMINAL_CONFORMANCE`` are tuples of ``ConformanceCheck`` that any
backend must pass; parametrize a test over them::

    @pytest.mark.parametrize("check", VFS_CONFORMANCE, ids=str)
    def test_vfs(check, tmp_path):
        check.run(LocalVfs(tmp_path))
"""

from sa3p_engine._conformance import TERMINAL_CONFORMANCE, VFS_CONFORMANCE, ConformanceCheck
from sa3p_engine._memory import MemoryFileSystem
from sa3p_engine._scripted import CONFORMANCE_COMMANDS, ScriptedCommand, ScriptedTerminal

__all__ = [
    "CONFORMANCE_COMMANDS",
    "TERMINAL_CONFORMANCE",
    "VFS_CONFORMANCE",
    "ConformanceCheck",
    "MemoryFileSystem",
    "ScriptedCommand",
    "ScriptedTerminal",
]
