"""sa3p_host: the local filesystem and process backends, the `sa3p` command, the guest server.

Public surface only; the implementation lives in private modules. Each name is imported from
its module on first use (PEP 562 ``__getattr__``), so ``sa3p run`` pays at start-up only for
what it uses: the terminal's modules, for one, are not loaded for a reply without a terminal
command.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sa3p_host._checkpoints import (
        ChangeKind as ChangeKind,
    )
    from sa3p_host._checkpoints import (
        CheckpointError as CheckpointError,
    )
    from sa3p_host._checkpoints import (
        Checkpoints as Checkpoints,
    )
    from sa3p_host._checkpoints import (
        CheckpointUsageError as CheckpointUsageError,
    )
    from sa3p_host._checkpoints import (
        FileChange as FileChange,
    )
    from sa3p_host._checkpoints import (
        FileKind as FileKind,
    )
    from sa3p_host._checkpoints import (
        FileState as FileState,
    )
    from sa3p_host._checkpoints import (
        TurnNotFound as TurnNotFound,
    )
    from sa3p_host._checkpoints import (
        TurnRecord as TurnRecord,
    )
    from sa3p_host._checkpoints import (
        WorkspaceBusy as WorkspaceBusy,
    )
    from sa3p_host._guest import (
        Guest as Guest,
    )
    from sa3p_host._guest import (
        GuestSettings as GuestSettings,
    )
    from sa3p_host._guest import (
        serve_forever as serve_forever,
    )
    from sa3p_host._local._atomic_writes import (
        LocalFileWriter as LocalFileWriter,
    )
    from sa3p_host._local._capped_output import (
        CappedOutput as CappedOutput,
    )
    from sa3p_host._local._capped_output import (
        OutputSegment as OutputSegment,
    )
    from sa3p_host._local._local_terminal import (
        LocalTerminal as LocalTerminal,
    )
    from sa3p_host._local._local_vfs import (
        LocalVfs as LocalVfs,
    )
    from sa3p_host._remote import (
        RemoteClient as RemoteClient,
    )
    from sa3p_host._remote import (
        RemoteProcess as RemoteProcess,
    )
    from sa3p_host._remote import (
        RemoteTerminal as RemoteTerminal,
    )
    from sa3p_host._remote import (
        RemoteVfs as RemoteVfs,
    )
    from sa3p_host._remote import (
        connect as connect,
    )
    from sa3p_host._remote import (
        open_remote_backends as open_remote_backends,
    )
    from sa3p_host._remote_errors import (
        RemoteConnectionError as RemoteConnectionError,
    )
    from sa3p_host._remote_errors import (
        RemoteOperationError as RemoteOperationError,
    )
    from sa3p_host._sandbox import (
        SandboxUnavailable as SandboxUnavailable,
    )
    from sa3p_host._sessions import (
        Session as Session,
    )
    from sa3p_host._sessions import (
        SessionError as SessionError,
    )
    from sa3p_host._sessions import (
        SessionInfo as SessionInfo,
    )
    from sa3p_host._sessions import (
        list_sessions as list_sessions,
    )
    from sa3p_host._sessions import (
        open_session as open_session,
    )
    from sa3p_host._sessions import (
        stop_session as stop_session,
    )
    from sa3p_host._transport import (
        AddressError as AddressError,
    )
    from sa3p_host._transport import (
        parse_address as parse_address,
    )

_MODULE_OF = {
    "ChangeKind": "sa3p_host._checkpoints",
    "CheckpointError": "sa3p_host._checkpoints",
    "CheckpointUsageError": "sa3p_host._checkpoints",
    "Checkpoints": "sa3p_host._checkpoints",
    "FileChange": "sa3p_host._checkpoints",
    "FileKind": "sa3p_host._checkpoints",
    "FileState": "sa3p_host._checkpoints",
    "TurnNotFound": "sa3p_host._checkpoints",
    "TurnRecord": "sa3p_host._checkpoints",
    "WorkspaceBusy": "sa3p_host._checkpoints",
    "Guest": "sa3p_host._guest",
    "GuestSettings": "sa3p_host._guest",
    "serve_forever": "sa3p_host._guest",
    "LocalFileWriter": "sa3p_host._local._atomic_writes",
    "CappedOutput": "sa3p_host._local._capped_output",
    "OutputSegment": "sa3p_host._local._capped_output",
    "LocalTerminal": "sa3p_host._local._local_terminal",
    "LocalVfs": "sa3p_host._local._local_vfs",
    "RemoteClient": "sa3p_host._remote",
    "RemoteProcess": "sa3p_host._remote",
    "RemoteTerminal": "sa3p_host._remote",
    "RemoteVfs": "sa3p_host._remote",
    "connect": "sa3p_host._remote",
    "open_remote_backends": "sa3p_host._remote",
    "RemoteConnectionError": "sa3p_host._remote_errors",
    "RemoteOperationError": "sa3p_host._remote_errors",
    "SandboxUnavailable": "sa3p_host._sandbox",
    "Session": "sa3p_host._sessions",
    "SessionError": "sa3p_host._sessions",
    "SessionInfo": "sa3p_host._sessions",
    "list_sessions": "sa3p_host._sessions",
    "open_session": "sa3p_host._sessions",
    "stop_session": "sa3p_host._sessions",
    "AddressError": "sa3p_host._transport",
    "parse_address": "sa3p_host._transport",
}
"""Where each public name lives (imported on first use)."""

__all__ = sorted(_MODULE_OF)  # noqa: PLE0605 - the map above is the list

UNSUPPORTED = (
    "sa3p runs on Linux (macOS: untested); {platform} is not supported: it needs POSIX process "
    "groups and file locks, and its sandbox is Linux's bubblewrap. On Windows, use WSL2."
)


def main() -> int:
    """The ``sa3p`` console script: a clear error on an unsupported platform, else the CLI."""
    if sys.platform == "win32":
        print(f"sa3p: {UNSUPPORTED.format(platform='Windows')}", file=sys.stderr)
        return 1  # before any POSIX-only import (fcntl, in _cli)
    from sa3p_host._cli import main as cli  # noqa: PLC0415 - after the platform check

    return cli()


def __getattr__(name: str) -> object:
    if sys.platform == "win32":
        raise ImportError(UNSUPPORTED.format(platform="Windows"))
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'sa3p_host' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
