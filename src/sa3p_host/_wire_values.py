"""Engine values and wire messages: each conversion written once, in each direction.

The guest turns its backends' results into replies (``*_reply``, ``*_entry``); the client turns
replies back into the engine's values (``Exchange`` decoders) and a guest's ERROR into the
engine's ``BackendError``. ``Exchange`` is one client operation as data: the request that opens
its stream, how its replies decode, and how many reply bytes it may bring at most.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sa3p_engine import (
    BackendError,
    ErrorCode,
    FileHash,
    FileStat,
    FileSystemError,
    NodeKind,
    RunResult,
    SignalResult,
    TerminalError,
    TreeNode,
    WriteReceipt,
)
from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol.messages import (
    CloseTerminalRequest,
    CwdReply,
    CwdRequest,
    ErrorReply,
    HashEntry,
    HashReply,
    HashRequest,
    ListProcessesRequest,
    ListTreeRequest,
    OkReply,
    PollRequest,
    ProcessListReply,
    ReadData,
    ReadRequest,
    RecentHashesReply,
    RecentHashesRequest,
    RecentlyModifiedReply,
    RecentlyModifiedRequest,
    RemoveRequest,
    RunReply,
    RunRequest,
    SignalReply,
    SignalRequest,
    StatReply,
    StatRequest,
    TreeEntry,
    TreeReply,
    WriteReply,
)

__all__ = [
    "Exchange",
    "as_backend_error",
    "batches",
    "encoded_size",
    "error_reply",
    "hash_entry",
    "one",
    "path_batches",
    "run_reply",
    "signal_reply",
    "stat_reply",
    "tree_entry",
    "write_receipt",
    "write_reply",
]

T = TypeVar("T")
M = TypeVar("M", bound=Message)

# ---- the values, both ways --------------------------------------------------------------------
# An engine value and its wire mirror share their field names; a conversion copies them and
# states only what differs (a kind that is a flag on the wire, a digest in hex or in bytes).

V = TypeVar("V")


def _mirror(value: object, cls: type[V], **differing: object) -> V:
    """A ``cls`` (a dataclass or a ``NamedTuple``) with ``value``'s fields of the same names,
    ``differing`` as given."""
    names: tuple[str, ...] = getattr(cls, "_fields", ()) or tuple(
        field.name
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
    )
    shared = {name: getattr(value, name) for name in names if name not in differing}
    return cls(**shared, **differing)


def _kind(is_directory: bool) -> NodeKind:
    return NodeKind.DIRECTORY if is_directory else NodeKind.FILE


def stat_reply(info: FileStat) -> StatReply:
    return _mirror(info, StatReply, is_directory=info.kind is NodeKind.DIRECTORY)


def _file_stat(reply: StatReply) -> FileStat:
    return _mirror(reply, FileStat, kind=_kind(reply.is_directory))


def tree_entry(node: TreeNode) -> TreeEntry:
    return _mirror(node, TreeEntry, is_directory=node.kind is NodeKind.DIRECTORY)


def _tree_node(entry: TreeEntry) -> TreeNode:
    return _mirror(entry, TreeNode, kind=_kind(entry.is_directory))


def hash_entry(item: FileHash) -> HashEntry:
    return HashEntry(item.path, bytes.fromhex(item.sha256))


def run_reply(result: RunResult) -> RunReply:
    return _mirror(result, RunReply)


def _run_result(reply: RunReply) -> RunResult:
    return _mirror(reply, RunResult)


def signal_reply(result: SignalResult) -> SignalReply:
    return _mirror(result, SignalReply)


def _signal_result(reply: SignalReply) -> SignalResult:
    return _mirror(reply, SignalResult)


def write_reply(receipt: WriteReceipt) -> WriteReply:
    return _mirror(receipt, WriteReply, sha256=bytes.fromhex(receipt.sha256))


def write_receipt(reply: WriteReply) -> WriteReceipt:
    return _mirror(reply, WriteReceipt, sha256=reply.sha256.hex())


def error_reply(error: BackendError) -> ErrorReply:
    """A backend failure as an ERROR reply (codes map by name) with a ``path`` detail."""
    details = (("path", error.path),) if error.path else ()
    return ErrorReply(WireErrorCode[error.code.name], error.message, details)


# ---- errors, wire -> engine (the client) -------------------------------------------------------


_CONNECTION_CODES = frozenset({WireErrorCode.SHUTTING_DOWN, WireErrorCode.CONNECTION_LOST})


def _engine_code(code: WireErrorCode) -> ErrorCode:
    """The engine's code of the same name; CONNECTION_LOST for a guest going away; else
    IO_ERROR (a protocol-only code)."""
    if code in _CONNECTION_CODES:
        return ErrorCode.CONNECTION_LOST
    try:
        return ErrorCode[code.name]
    except KeyError:
        return ErrorCode.IO_ERROR


def as_backend_error(
    error: RemoteOperationError | RemoteConnectionError,
    kind: type[FileSystemError] | type[TerminalError],
    where: str,
) -> BackendError:
    """A remote failure as the engine's ``kind``; ``where`` names the guest."""
    if isinstance(error, RemoteConnectionError):
        return kind(ErrorCode.CONNECTION_LOST, f"the guest at {where} is unreachable: {error}")
    return kind(_engine_code(error.code), error.message, path=error.detail("path"))


# ---- the client's operations -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange(Generic[T]):
    """One operation: the request opening its stream, how its replies (END excluded, ERROR
    already raised) decode, and the most reply bytes it may bring (None: the client's cap).
    ``live``: a command's run or poll, whose PTY_OUTPUT messages (live output, on a connection
    with that feature) go to the caller's callback as they come, never into the replies."""

    request: Message
    decode: Callable[[list[Message]], T]
    reply_limit: int | None = None
    live: bool = False


def one(replies: list[Message], kind: type[M]) -> M:
    """The first reply of type ``kind``; a guest that sent none broke the protocol."""
    for reply in replies:
        if isinstance(reply, kind):
            return reply
    raise RemoteOperationError(
        WireErrorCode.PROTOCOL_ERROR, f"the guest answered without a {kind.__name__}"
    )


def _all(replies: list[Message], kind: type[M]) -> list[M]:
    return [reply for reply in replies if isinstance(reply, kind)]


def cwd() -> Exchange[str]:
    return Exchange(CwdRequest(), lambda replies: one(replies, CwdReply).path)


def stat(path: str) -> Exchange[FileStat]:
    return Exchange(StatRequest(path), lambda replies: _file_stat(one(replies, StatReply)))


def read(path: str, offset: int, length: int | None) -> Exchange[bytes]:
    def decode(replies: list[Message]) -> bytes:
        return b"".join(reply.data for reply in _all(replies, ReadData))

    return Exchange(ReadRequest(path, offset, length), decode, reply_limit=length)


def hash_file(path: str) -> Exchange[str]:
    return Exchange(HashRequest(path), lambda replies: one(replies, HashReply).sha256.hex())


def list_tree(path: str) -> Exchange[list[TreeNode]]:
    def decode(replies: list[Message]) -> list[TreeNode]:
        return [_tree_node(node) for reply in _all(replies, TreeReply) for node in reply.nodes]

    return Exchange(ListTreeRequest(path), decode)


def recent_file_hashes(limit: int) -> Exchange[list[FileHash]]:
    def decode(replies: list[Message]) -> list[FileHash]:
        files = [item for reply in _all(replies, RecentHashesReply) for item in reply.files]
        return [FileHash(item.path, item.sha256.hex()) for item in files[:limit]]

    return Exchange(RecentHashesRequest(limit), decode)


def batches(items: Sequence[T], max_bytes: int, cost: Callable[[T], int]) -> list[tuple[T, ...]]:
    """``items`` cut into runs whose summed ``cost`` stays within ``max_bytes``, so that each
    request or reply fits in one frame of the peer (an item costing more still goes alone)."""
    runs: list[tuple[T, ...]] = []
    run: list[T] = []
    used = 0
    for item in items:
        size = cost(item)
        if run and used + size > max_bytes:
            runs.append(tuple(run))
            run, used = [], 0
        run.append(item)
        used += size
    if run:
        runs.append(tuple(run))
    return runs


def encoded_size(text: str) -> int:
    """Bytes of ``text`` on the wire (a name that is not UTF-8 travels as its own bytes)."""
    return len(text.encode("utf-8", "surrogateescape"))


def path_batches(paths: Sequence[str], max_bytes: int) -> list[tuple[str, ...]]:
    """``paths`` cut into lists whose encoding (a u32 count, then each path's u32 length and
    bytes) stays within ``max_bytes``."""
    return batches(paths, max_bytes - 4, lambda path: encoded_size(path) + 4)


def recently_modified(paths: tuple[str, ...]) -> Exchange[list[str]]:
    def decode(replies: list[Message]) -> list[str]:
        return list(one(replies, RecentlyModifiedReply).paths)

    return Exchange(RecentlyModifiedRequest(paths), decode)


def remove(path: str) -> Exchange[None]:
    def decode(replies: list[Message]) -> None:
        one(replies, OkReply)

    return Exchange(RemoveRequest(path), decode)


def run(command: str, timeout: float) -> Exchange[RunResult]:
    return Exchange(RunRequest(command, timeout), _decode_run, live=True)


def poll(pid: int, timeout: float) -> Exchange[RunResult]:
    return Exchange(PollRequest(pid, timeout), _decode_run, live=True)


def _decode_run(replies: list[Message]) -> RunResult:
    return _run_result(one(replies, RunReply))


def signal(pid: int, number: int) -> Exchange[SignalResult]:
    return Exchange(
        SignalRequest(pid, number), lambda replies: _signal_result(one(replies, SignalReply))
    )


def active_pids() -> Exchange[list[int]]:
    return Exchange(
        ListProcessesRequest(), lambda replies: list(one(replies, ProcessListReply).pids)
    )


def close_terminal() -> Exchange[None]:
    def decode(replies: list[Message]) -> None:
        one(replies, OkReply)

    return Exchange(CloseTerminalRequest(), decode)
