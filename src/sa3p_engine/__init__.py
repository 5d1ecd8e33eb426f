"""sa3p_engine: the Sans-IO executor that gives the model's commands their meaning.

Public surface only; the implementation lives in private modules.
"""

from sa3p_engine._backend import (
    BackendError,
    ErrorCode,
    FileHash,
    FileStat,
    FileSystemError,
    FileWriter,
    NodeKind,
    RunResult,
    SignalResult,
    TerminalError,
    TerminalProvider,
    TreeNode,
    VirtualFileSystem,
    WriteReceipt,
)

__all__ = [
    "BackendError",
    "ErrorCode",
    "FileHash",
    "FileStat",
    "FileSystemError",
    "FileWriter",
    "NodeKind",
    "RunResult",
    "SignalResult",
    "TerminalError",
    "TerminalProvider",
    "TreeNode",
    "VirtualFileSystem",
    "WriteReceipt",
]
