"""The request/response mapping of every engine operation, shared by both client drivers.

An ``Exchange`` is one operation as data: the request message that opens its stream, and a
function turning the stream's replies (END excluded, ``ERROR`` already raised by
``check_replies``) into the engine's value. The async core (``RemoteClient``) and the
synchronous driver (``BlockingClient``) only move messages; what a request means and how its
replies decode is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sa3p_engine import (
    FileHash,
    FileStat,
    NodeKind,
    RunResult,
    SignalResult,
    TreeNode,
    WriteReceipt,
)
from sa3p_host._remote._errors import RemoteOperationError
from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol.messages import (
    CloseTerminalRequest,
    CwdReply,
    CwdRequest,
    ErrorReply,
    HashReply,
    HashRequest,
    ListProcessesRequest,
    ListTreeRequest,
    PollRequest,
    ProcessListReply,
    ReadData,
    ReadRequest,
    RecentHashesReply,
    RecentHashesRequest,
    RunReply,
    RunRequest,
    SignalReply,
    SignalRequest,
    StatReply,
    StatRequest,
    TreeReply,
    WriteReply,
)

__all__ = [
    "Exchange",
    "active_pids",
    "check_replies",
    "close_terminal",
    "cwd",
    "hash_file",
    "list_tree",
    "poll",
    "read",
    "receipt",
    "recent_file_hashes",
    "run",
    "signal",
    "stat",
]

T = TypeVar("T")
M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class Exchange(Generic[T]):
    """One operation: the request that opens the stream and how its replies decode."""

    request: Message
    decode: Callable[[list[Message]], T]


def check_replies(replies: Iterable[Message]) -> list[Message]:
    """The replies of one stream, or the guest's ``ERROR`` among them raised.

    Raises:
        RemoteOperationError: the guest answered ERROR.
    """
    kept: list[Message] = []
    error: ErrorReply | None = None
    for reply in replies:
        if isinstance(reply, ErrorReply):
            error = reply
        else:
            kept.append(reply)
    if error is not None:
        raise RemoteOperationError.from_reply(error)
    return kept


def one(replies: list[Message], kind: type[M], what: str) -> M:
    """The first reply of type ``kind``.

    Raises:
        RemoteOperationError: PROTOCOL_ERROR, there is none.
    """
    for reply in replies:
        if isinstance(reply, kind):
            return reply
    raise RemoteOperationError(
        WireErrorCode.PROTOCOL_ERROR, f"the guest answered {what} without a {kind.__name__}"
    )


# ---- filesystem ------------------------------------------------------------------------------


def cwd() -> Exchange[str]:
    return Exchange(CwdRequest(), lambda replies: one(replies, CwdReply, "cwd").path)


def stat(path: str) -> Exchange[FileStat]:
    def decode(replies: list[Message]) -> FileStat:
        reply = one(replies, StatReply, "stat")
        kind = NodeKind.DIRECTORY if reply.is_directory else NodeKind.FILE
        return FileStat(path=reply.path, kind=kind, size=reply.size, mtime=reply.mtime)

    return Exchange(StatRequest(path), decode)


def read(path: str, offset: int = 0, length: int | None = None) -> Exchange[bytes]:
    def decode(replies: list[Message]) -> bytes:
        return b"".join(reply.data for reply in replies if isinstance(reply, ReadData))

    return Exchange(ReadRequest(path, offset, length), decode)


def hash_file(path: str) -> Exchange[str]:
    return Exchange(HashRequest(path), lambda replies: one(replies, HashReply, "hash").sha256.hex())


def list_tree(path: str) -> Exchange[list[TreeNode]]:
    def decode(replies: list[Message]) -> list[TreeNode]:
        return [
            TreeNode(
                path=node.path,
                kind=NodeKind.DIRECTORY if node.is_directory else NodeKind.FILE,
                descendant_file_count=node.descendant_file_count,
                modified_recently=node.modified_recently,
            )
            for reply in replies
            if isinstance(reply, TreeReply)
            for node in reply.nodes
        ]

    return Exchange(ListTreeRequest(path), decode)


def recent_file_hashes(limit: int) -> Exchange[list[FileHash]]:
    def decode(replies: list[Message]) -> list[FileHash]:
        return [
            FileHash(entry.path, entry.sha256.hex())
            for reply in replies
            if isinstance(reply, RecentHashesReply)
            for entry in reply.files
        ]

    return Exchange(RecentHashesRequest(limit), decode)


def receipt(replies: list[Message]) -> WriteReceipt:
    """The guest's answer to a write's commit as the engine's receipt."""
    reply = one(replies, WriteReply, "commit")
    return WriteReceipt(
        path=reply.path,
        bytes_written=reply.bytes_written,
        sha256=reply.sha256.hex(),
        created=reply.created,
    )


# ---- terminal --------------------------------------------------------------------------------


def _run_result(replies: list[Message], what: str) -> RunResult:
    reply = one(replies, RunReply, what)
    return RunResult(
        pid=reply.pid,
        head=reply.head,
        tail=reply.tail,
        total_bytes=reply.total_bytes,
        exit_code=reply.exit_code,
        duration=reply.duration,
    )


def run(command: str, timeout: float) -> Exchange[RunResult]:
    return Exchange(RunRequest(command, timeout), lambda replies: _run_result(replies, "run"))


def poll(pid: int, timeout: float) -> Exchange[RunResult]:
    return Exchange(PollRequest(pid, timeout), lambda replies: _run_result(replies, "poll"))


def signal(pid: int, number: int) -> Exchange[SignalResult]:
    def decode(replies: list[Message]) -> SignalResult:
        reply = one(replies, SignalReply, "signal")
        return SignalResult(
            pid=reply.pid, signal=reply.signal, exited=reply.exited, exit_code=reply.exit_code
        )

    return Exchange(SignalRequest(pid, number), decode)


def active_pids() -> Exchange[list[int]]:
    return Exchange(
        ListProcessesRequest(),
        lambda replies: list(one(replies, ProcessListReply, "active_pids").pids),
    )


def close_terminal() -> Exchange[None]:
    return Exchange(CloseTerminalRequest(), lambda replies: None)
