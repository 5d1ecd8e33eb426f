"""What the protocol's users raise: an operation refused, a stream reset, a connection gone.

Two kinds, as the protocol has them: an operation the peer refused (``RemoteOperationError``,
one stream) and a connection that could not be made or was lost (``RemoteConnectionError``,
everything on it). The remote backends turn both into the engine's ``FileSystemError`` /
``TerminalError`` (``_wire_values.as_backend_error``), so the model sees failed commands.
"""

from __future__ import annotations

from sa3p_protocol import Role, WireErrorCode
from sa3p_protocol.messages import ErrorReply

__all__ = [
    "RemoteConnectionError",
    "RemoteOperationError",
    "StreamAborted",
    "connection_failure",
]


class RemoteConnectionError(Exception):
    """The connection to the guest could not be made, was refused, or is gone.

    Attributes:
        code: the protocol's reason (``AUTH_FAILED``, ``SHUTTING_DOWN``, ``CONNECTION_LOST``...).
        message: a sentence saying what happened.
    """

    def __init__(self, code: WireErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RemoteOperationError(Exception):
    """The guest answered an operation with ERROR (or reset its stream).

    Attributes:
        code: the protocol's error code.
        message: the guest's sentence naming what failed and where.
        details: structured context such as ``(("path", "src/a.py"),)``.
    """

    def __init__(
        self, code: WireErrorCode, message: str, details: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_reply(cls, reply: ErrorReply) -> RemoteOperationError:
        return cls(reply.code, reply.message, reply.details)

    def detail(self, key: str) -> str | None:
        return next((value for name, value in self.details if name == key), None)


class StreamAborted(RemoteOperationError):
    """One stream was reset (by the peer, or by us because the peer broke its rules)."""

    def __init__(self, stream_id: int, code: WireErrorCode, message: str) -> None:
        super().__init__(code, f"stream {stream_id} was reset ({code.name}): {message}")
        self.stream_id = stream_id


_AUTH_FAILED = {
    Role.CLIENT: (
        "authentication failed: this client's token and the guest's token differ (or only one "
        "of them has a token); give both the same token file"
    ),
    Role.SERVER: (
        "authentication failed: the client's token and this guest's token differ (or only one "
        "of them has a token)"
    ),
}


def connection_failure(
    code: WireErrorCode, detail: str, *, role: Role, by_peer: bool
) -> RemoteConnectionError:
    """The error for a connection that failed (``by_peer``: the peer's GOAWAY said so; else our
    ``Connection`` found the fault). An authentication failure is said plainly, for the side
    ``role`` speaks to, with the protocol's detail in parentheses."""
    if code is WireErrorCode.AUTH_FAILED:
        peer = "client" if role is Role.SERVER else "guest"
        said = f"the {peer} reported: {detail}" if by_peer else detail
        return RemoteConnectionError(code, f"{_AUTH_FAILED[role]} ({said})")
    if by_peer:
        return RemoteConnectionError(code, f"the peer closed the connection: {detail}")
    return RemoteConnectionError(code, f"the peer broke the protocol: {detail}")
