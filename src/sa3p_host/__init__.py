"""sa3p_host: the local filesystem and process backends, the `sa3p` command, the guest server.

Public surface only; the implementation lives in private modules.
"""

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
