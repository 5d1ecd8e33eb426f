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
        ChangeKind,
        CheckpointError,
        Checkpoints,
        CheckpointUsageError,
        FileChange,
        FileKind,
        FileState,
        TurnNotFound,
        TurnRecord,
        WorkspaceBusy,
    )
    from sa3p_host._guest import Guest, GuestSettings, serve_forever
    from sa3p_host._local._atomic_writes import LocalFileWriter
    from sa3p_host._local._capped_output import CappedOutput, OutputSegment
    from sa3p_host._local._local_terminal import LocalTerminal
    from sa3p_host._local._local_vfs import LocalVfs
    from sa3p_host._remote import (
        RemoteClient,
        RemoteProcess,
        RemoteTerminal,
        RemoteVfs,
        connect,
        open_remote_backends,
    )
    from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
    from sa3p_host._transport import AddressError, parse_address

__all__ = [
    "AddressError",
    "CappedOutput",
    "ChangeKind",
    "CheckpointError",
    "CheckpointUsageError",
    "Checkpoints",
    "FileChange",
    "FileKind",
    "FileState",
    "Guest",
    "GuestSettings",
    "LocalFileWriter",
    "LocalTerminal",
    "LocalVfs",
    "OutputSegment",
    "RemoteClient",
    "RemoteConnectionError",
    "RemoteOperationError",
    "RemoteProcess",
    "RemoteTerminal",
    "RemoteVfs",
    "TurnNotFound",
    "TurnRecord",
    "WorkspaceBusy",
    "connect",
    "open_remote_backends",
    "parse_address",
    "serve_forever",
]

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
    "AddressError": "sa3p_host._transport",
    "parse_address": "sa3p_host._transport",
    "Guest": "sa3p_host._guest",
    "GuestSettings": "sa3p_host._guest",
    "serve_forever": "sa3p_host._guest",
    "RemoteClient": "sa3p_host._remote",
    "RemoteConnectionError": "sa3p_host._remote_errors",
    "RemoteOperationError": "sa3p_host._remote_errors",
    "RemoteProcess": "sa3p_host._remote",
    "RemoteTerminal": "sa3p_host._remote",
    "RemoteVfs": "sa3p_host._remote",
    "connect": "sa3p_host._remote",
    "open_remote_backends": "sa3p_host._remote",
    "CappedOutput": "sa3p_host._local._capped_output",
    "LocalFileWriter": "sa3p_host._local._atomic_writes",
    "LocalTerminal": "sa3p_host._local._local_terminal",
    "LocalVfs": "sa3p_host._local._local_vfs",
    "OutputSegment": "sa3p_host._local._capped_output",
}


UNSUPPORTED = (
    "sa3p runs on Linux (macOS: untested); {platform} is not supported: it needs POSIX process "
    "groups and file locks, and its sandbox is Linux's bubblewrap. On Windows, use WSL2."
)


def main() -> int:
    """The ``sa3p`` console script: a clear error on an unsupported platform, else the CLI."""
    if sys.platform == "win32":
        print(f"sa3p: {UNSUPPORTED.format(platform='Windows')}", file=sys.stderr)
        return 2
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
