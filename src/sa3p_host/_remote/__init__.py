"""The host side of a remote workspace: connect to a guest and use it like a local one.

``open_remote_backends(address, token)`` (sync) yields ``(RemoteVfs, RemoteTerminal)`` for an
``Engine``; ``connect(address, token=...)`` (async) yields a ``RemoteClient`` with the same
operations plus streamed processes (``RemoteProcess``: spawn, attach and replay).
"""

from sa3p_host._remote._blocking import BlockingClient
from sa3p_host._remote._client import CLIENT_LIMITS, RemoteClient, RemoteWriteStream, connect
from sa3p_host._remote._errors import (
    RemoteConnectionError,
    RemoteOperationError,
    StreamAborted,
)
from sa3p_host._remote._process import ProcessEvent, RemoteProcess
from sa3p_host._remote._sync import (
    RemoteTerminal,
    RemoteVfs,
    open_remote_backends,
    open_workspace_backends,
)
from sa3p_host._remote._writers import BlockingFileWriter, RemoteFileWriter

__all__ = [
    "CLIENT_LIMITS",
    "BlockingClient",
    "BlockingFileWriter",
    "ProcessEvent",
    "RemoteClient",
    "RemoteConnectionError",
    "RemoteFileWriter",
    "RemoteOperationError",
    "RemoteProcess",
    "RemoteTerminal",
    "RemoteVfs",
    "RemoteWriteStream",
    "StreamAborted",
    "connect",
    "open_remote_backends",
    "open_workspace_backends",
]
