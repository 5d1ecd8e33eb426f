"""sa3p_host: the local filesystem and process backends, the `sa3p` command, the guest server.

Public surface only; the implementation lives in private modules. Each name is imported from
its module on first use (PEP 562 ``__getattr__``), so ``sa3p run`` pays at start-up only for
what it uses: the terminal's modules, for one, are not loaded for a reply without a terminal
command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sa3p_host._output import CappedOutput, OutputSegment
    from sa3p_host._terminal import LocalTerminal
    from sa3p_host._vfs import LocalVfs
    from sa3p_host._writer import LocalFileWriter

__all__ = [
    "CappedOutput",
    "LocalFileWriter",
    "LocalTerminal",
    "LocalVfs",
    "OutputSegment",
]

_MODULE_OF = {
    "CappedOutput": "sa3p_host._output",
    "LocalFileWriter": "sa3p_host._writer",
    "LocalTerminal": "sa3p_host._terminal",
    "LocalVfs": "sa3p_host._vfs",
    "OutputSegment": "sa3p_host._output",
}


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'sa3p_host' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
