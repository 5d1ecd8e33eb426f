"""sa3p_engine: the Sans-IO executor that gives the model's commands their meaning.

Public surface only; the implementation lives in private modules, each imported on first use
(PEP 562 ``__getattr__``): a process that needs only the backend interfaces (the guest) does
not pay for the engine's core, its edit tiers or the parser. Test support (in-memory
backends, conformance checks) is in ``sa3p_engine.testing``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sa3p_engine._approval_request import (
        Approval as Approval,
    )
    from sa3p_engine._approval_request import (
        ApprovalRequest as ApprovalRequest,
    )
    from sa3p_engine._backend import (
        AsyncFileWriter as AsyncFileWriter,
    )
    from sa3p_engine._backend import (
        AsyncTerminalProvider as AsyncTerminalProvider,
    )
    from sa3p_engine._backend import (
        AsyncVirtualFileSystem as AsyncVirtualFileSystem,
    )
    from sa3p_engine._backend import (
        BackendError as BackendError,
    )
    from sa3p_engine._backend import (
        ErrorCode as ErrorCode,
    )
    from sa3p_engine._backend import (
        FileHash as FileHash,
    )
    from sa3p_engine._backend import (
        FileStat as FileStat,
    )
    from sa3p_engine._backend import (
        FileSystemError as FileSystemError,
    )
    from sa3p_engine._backend import (
        FileWriter as FileWriter,
    )
    from sa3p_engine._backend import (
        NodeKind as NodeKind,
    )
    from sa3p_engine._backend import (
        OutputCallback as OutputCallback,
    )
    from sa3p_engine._backend import (
        RunResult as RunResult,
    )
    from sa3p_engine._backend import (
        SignalResult as SignalResult,
    )
    from sa3p_engine._backend import (
        TerminalError as TerminalError,
    )
    from sa3p_engine._backend import (
        TerminalProvider as TerminalProvider,
    )
    from sa3p_engine._backend import (
        TreeNode as TreeNode,
    )
    from sa3p_engine._backend import (
        VirtualFileSystem as VirtualFileSystem,
    )
    from sa3p_engine._backend import (
        WriteReceipt as WriteReceipt,
    )
    from sa3p_engine._edit_tiers import (
        EditTier as EditTier,
    )
    from sa3p_engine._engine_core import (
        EngineClosedError as EngineClosedError,
    )
    from sa3p_engine._engine_drivers import (
        AsyncEngine as AsyncEngine,
    )
    from sa3p_engine._engine_drivers import (
        Engine as Engine,
    )
    from sa3p_engine._fuzzy_tier import (
        FUZZY_MARGIN as FUZZY_MARGIN,
    )
    from sa3p_engine._fuzzy_tier import (
        FUZZY_MIN_CHARS as FUZZY_MIN_CHARS,
    )
    from sa3p_engine._fuzzy_tier import (
        FUZZY_THRESHOLD as FUZZY_THRESHOLD,
    )
    from sa3p_engine._limits import (
        Limits as Limits,
    )
    from sa3p_engine._output_codes import (
        OutputCode as OutputCode,
    )
    from sa3p_engine._outputs import (
        ApplyEditOutput as ApplyEditOutput,
    )
    from sa3p_engine._outputs import (
        ApplyPatchOutput as ApplyPatchOutput,
    )
    from sa3p_engine._outputs import (
        CommandOutput as CommandOutput,
    )
    from sa3p_engine._outputs import (
        CommandStatistics as CommandStatistics,
    )
    from sa3p_engine._outputs import (
        DenialCause as DenialCause,
    )
    from sa3p_engine._outputs import (
        DeniedOutput as DeniedOutput,
    )
    from sa3p_engine._outputs import (
        EditReport as EditReport,
    )
    from sa3p_engine._outputs import (
        ListFilesOutput as ListFilesOutput,
    )
    from sa3p_engine._outputs import (
        LiveOutput as LiveOutput,
    )
    from sa3p_engine._outputs import (
        NoticeOutput as NoticeOutput,
    )
    from sa3p_engine._outputs import (
        PatchAction as PatchAction,
    )
    from sa3p_engine._outputs import (
        PatchFileReport as PatchFileReport,
    )
    from sa3p_engine._outputs import (
        ProblemOutput as ProblemOutput,
    )
    from sa3p_engine._outputs import (
        ReadFileOutput as ReadFileOutput,
    )
    from sa3p_engine._outputs import (
        SignalOutput as SignalOutput,
    )
    from sa3p_engine._outputs import (
        StateHeader as StateHeader,
    )
    from sa3p_engine._outputs import (
        SummaryOutput as SummaryOutput,
    )
    from sa3p_engine._outputs import (
        TerminalOutput as TerminalOutput,
    )
    from sa3p_engine._outputs import (
        TurnResult as TurnResult,
    )
    from sa3p_engine._outputs import (
        WriteFileOutput as WriteFileOutput,
    )
    from sa3p_engine._policy import (
        CommandKind as CommandKind,
    )
    from sa3p_engine._policy import (
        Policy as Policy,
    )
    from sa3p_engine._policy import (
        PolicyAction as PolicyAction,
    )
    from sa3p_engine._policy import (
        PolicyDecision as PolicyDecision,
    )
    from sa3p_engine._policy import (
        PolicyError as PolicyError,
    )
    from sa3p_engine._policy import (
        PolicyRule as PolicyRule,
    )
    from sa3p_engine._prompt import (
        AttributeSpec as AttributeSpec,
    )
    from sa3p_engine._prompt import (
        CapabilityManifest as CapabilityManifest,
    )
    from sa3p_engine._prompt import (
        CommandSpec as CommandSpec,
    )
    from sa3p_engine._prompt import (
        build_manifest as build_manifest,
    )
    from sa3p_engine._prompt import (
        generate_system_prompt as generate_system_prompt,
    )
    from sa3p_engine._terminal_text import (
        clean_terminal_text as clean_terminal_text,
    )

_MODULE_OF = {
    "Approval": "sa3p_engine._approval_request",
    "ApprovalRequest": "sa3p_engine._approval_request",
    "AsyncFileWriter": "sa3p_engine._backend",
    "AsyncTerminalProvider": "sa3p_engine._backend",
    "AsyncVirtualFileSystem": "sa3p_engine._backend",
    "BackendError": "sa3p_engine._backend",
    "ErrorCode": "sa3p_engine._backend",
    "FileHash": "sa3p_engine._backend",
    "FileStat": "sa3p_engine._backend",
    "FileSystemError": "sa3p_engine._backend",
    "FileWriter": "sa3p_engine._backend",
    "NodeKind": "sa3p_engine._backend",
    "OutputCallback": "sa3p_engine._backend",
    "RunResult": "sa3p_engine._backend",
    "SignalResult": "sa3p_engine._backend",
    "TerminalError": "sa3p_engine._backend",
    "TerminalProvider": "sa3p_engine._backend",
    "TreeNode": "sa3p_engine._backend",
    "VirtualFileSystem": "sa3p_engine._backend",
    "WriteReceipt": "sa3p_engine._backend",
    "EditTier": "sa3p_engine._edit_tiers",
    "EngineClosedError": "sa3p_engine._engine_core",
    "AsyncEngine": "sa3p_engine._engine_drivers",
    "Engine": "sa3p_engine._engine_drivers",
    "FUZZY_MARGIN": "sa3p_engine._fuzzy_tier",
    "FUZZY_MIN_CHARS": "sa3p_engine._fuzzy_tier",
    "FUZZY_THRESHOLD": "sa3p_engine._fuzzy_tier",
    "Limits": "sa3p_engine._limits",
    "OutputCode": "sa3p_engine._output_codes",
    "ApplyEditOutput": "sa3p_engine._outputs",
    "ApplyPatchOutput": "sa3p_engine._outputs",
    "CommandOutput": "sa3p_engine._outputs",
    "CommandStatistics": "sa3p_engine._outputs",
    "DenialCause": "sa3p_engine._outputs",
    "DeniedOutput": "sa3p_engine._outputs",
    "EditReport": "sa3p_engine._outputs",
    "ListFilesOutput": "sa3p_engine._outputs",
    "LiveOutput": "sa3p_engine._outputs",
    "NoticeOutput": "sa3p_engine._outputs",
    "PatchAction": "sa3p_engine._outputs",
    "PatchFileReport": "sa3p_engine._outputs",
    "ProblemOutput": "sa3p_engine._outputs",
    "ReadFileOutput": "sa3p_engine._outputs",
    "SignalOutput": "sa3p_engine._outputs",
    "StateHeader": "sa3p_engine._outputs",
    "SummaryOutput": "sa3p_engine._outputs",
    "TerminalOutput": "sa3p_engine._outputs",
    "TurnResult": "sa3p_engine._outputs",
    "WriteFileOutput": "sa3p_engine._outputs",
    "CommandKind": "sa3p_engine._policy",
    "Policy": "sa3p_engine._policy",
    "PolicyAction": "sa3p_engine._policy",
    "PolicyDecision": "sa3p_engine._policy",
    "PolicyError": "sa3p_engine._policy",
    "PolicyRule": "sa3p_engine._policy",
    "AttributeSpec": "sa3p_engine._prompt",
    "CapabilityManifest": "sa3p_engine._prompt",
    "CommandSpec": "sa3p_engine._prompt",
    "build_manifest": "sa3p_engine._prompt",
    "generate_system_prompt": "sa3p_engine._prompt",
    "clean_terminal_text": "sa3p_engine._terminal_text",
}
"""Where each public name lives."""

__all__ = sorted(_MODULE_OF)  # noqa: PLE0605 - the map above is the list


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'sa3p_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
