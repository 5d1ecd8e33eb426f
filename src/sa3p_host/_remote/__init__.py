"""The remote client: a guest's workspace from the host, from blocking or async code.

``open_remote_backends(address, token)`` yields ``(RemoteVfs, RemoteTerminal)`` for an
``Engine``; ``connect(address, token=...)`` yields a ``RemoteClient`` (async) for an
``AsyncEngine``, with streamed processes (``RemoteProcess``: spawn, attach and replay).
"""

from sa3p_host._remote._client_setup import CLIENT_LIMITS
from sa3p_host._remote._remote_backends import (
    RemoteFileWriter,
    RemoteTerminal,
    RemoteVfs,
    open_remote_backends,
)
from sa3p_host._remote._remote_client import (
    RemoteClient,
    RemoteProcess,
    RemoteWriteStream,
    connect,
)

__all__ = [
    "CLIENT_LIMITS",
    "RemoteClient",
    "RemoteFileWriter",
    "RemoteProcess",
    "RemoteTerminal",
    "RemoteVfs",
    "RemoteWriteStream",
    "connect",
    "open_remote_backends",
]
