"""sa3p_engine: the Sans-IO executor that gives the model's commands their meaning.

Public surface only; the implementation lives in private modules. Test support (in-memory
backends, conformance checks) is in ``sa3p_engine.testing``.
"""

from sa3p_engine._backend import (
    AsyncFileWriter,
    AsyncTerminalProvider,
    AsyncVirtualFileSystem,
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
from sa3p_engine._edit_tiers import EditTier
from sa3p_engine._engine_core import EngineClosedError
from sa3p_engine._engine_drivers import AsyncEngine, Engine
from sa3p_engine._fuzzy_tier import FUZZY_MARGIN, FUZZY_MIN_CHARS, FUZZY_THRESHOLD
from sa3p_engine._limits import Limits
from sa3p_engine._outputs import (
    ApplyEditOutput,
    ApplyPatchOutput,
    CommandOutput,
    CommandStatistics,
    EditReport,
    ListFilesOutput,
    NoticeOutput,
    PatchAction,
    PatchFileReport,
    ReadFileOutput,
    SignalOutput,
    StateHeader,
    TerminalOutput,
    TurnResult,
    WriteFileOutput,
)
from sa3p_engine._prompt import (
    AttributeSpec,
    CapabilityManifest,
    CommandSpec,
    build_manifest,
    generate_system_prompt,
)

__all__ = [
    "FUZZY_MARGIN",
    "FUZZY_MIN_CHARS",
    "FUZZY_THRESHOLD",
    "ApplyEditOutput",
    "ApplyPatchOutput",
    "AsyncEngine",
    "AsyncFileWriter",
    "AsyncTerminalProvider",
    "AsyncVirtualFileSystem",
    "AttributeSpec",
    "BackendError",
    "CapabilityManifest",
    "CommandOutput",
    "CommandSpec",
    "CommandStatistics",
    "EditReport",
    "EditTier",
    "Engine",
    "EngineClosedError",
    "ErrorCode",
    "FileHash",
    "FileStat",
    "FileSystemError",
    "FileWriter",
    "Limits",
    "ListFilesOutput",
    "NodeKind",
    "NoticeOutput",
    "PatchAction",
    "PatchFileReport",
    "ReadFileOutput",
    "RunResult",
    "SignalOutput",
    "SignalResult",
    "StateHeader",
    "TerminalError",
    "TerminalOutput",
    "TerminalProvider",
    "TreeNode",
    "TurnResult",
    "VirtualFileSystem",
    "WriteFileOutput",
    "WriteReceipt",
    "build_manifest",
    "generate_system_prompt",
]
