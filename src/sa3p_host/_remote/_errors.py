"""What the remote layer raises, and how it becomes the engine's ``BackendError``s.

Two kinds, as the protocol has them: an operation the guest refused (``RemoteOperationError``,
one stream) and a connection that could not be made or was lost (``RemoteConnectionError``,
everything on it). ``RemoteVfs``/``RemoteTerminal`` turn both into ``FileSystemError`` /
``TerminalError`` with the engine's code of the same name (``CONNECTION_LOST`` for a lost
connection, ``IO_ERROR`` for a protocol-only code), so the engine reports them to the model as
failed commands.
"""

from __future__ import annotations

from sa3p_engine import BackendError, FileSystemError, TerminalError
from sa3p_engine import ErrorCode as EngineCode
from sa3p_protocol import Role, WireErrorCode
from sa3p_protocol.messages import ErrorReply

__all__ = [
    "RemoteConnectionError",
    "RemoteOperationError",
    "StreamAborted",
    "as_backend_error",
    "connection_failure",
    "engine_code",
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


_CONNECTION_CODES = frozenset({WireErrorCode.SHUTTING_DOWN, WireErrorCode.CONNECTION_LOST})


def engine_code(code: WireErrorCode) -> EngineCode:
    """The engine's code of the same name (codes 1..14), ``CONNECTION_LOST`` for a stream the
    guest refused because it is going away, else ``IO_ERROR``."""
    if code in _CONNECTION_CODES:
        return EngineCode.CONNECTION_LOST
    try:
        return EngineCode[code.name]
    except KeyError:
        return EngineCode.IO_ERROR


def as_backend_error(
    error: RemoteOperationError | RemoteConnectionError,
    kind: type[FileSystemError] | type[TerminalError],
    where: str,
) -> BackendError:
    """``error`` as the engine's ``kind``; ``where`` names the guest for a connection error."""
    if isinstance(error, RemoteConnectionError):
        return kind(EngineCode.CONNECTION_LOST, f"the guest at {where} is unreachable: {error}")
    path = error.detail("path")
    return kind(engine_code(error.code), error.message, path=path)


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
