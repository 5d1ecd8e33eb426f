"""Serving one streaming write: VFS_WRITE_CHUNK* then VFS_WRITE_COMMIT or VFS_WRITE_ABORT.

Chunks go to the ``FileWriter`` in worker threads, several at a time when several are waiting
(a model's reply streams many small chunks). The commit is refused (WRITE_MISMATCH, nothing
renamed) unless the size and SHA-256 the client sent match what arrived. Any other ending (a
reset, a lost connection, a cancelled task) aborts: nothing is committed.

Hashing: a writer whose ``commit`` accepts ``expected_sha256`` (lowercase hex) and
``expected_size`` (``LocalFileWriter``) checks the digest it computes anyway while writing,
before its rename, and raises ``WriteMismatchError`` on a difference (answered WRITE_MISMATCH);
then the guest does not hash the body a second time. Otherwise the guest hashes it itself.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from sa3p_engine import FileWriter, WriteReceipt
from sa3p_host._channel import Channel
from sa3p_host._links import AsyncLink
from sa3p_host._local._atomic_writes import WriteMismatchError
from sa3p_host._wire_values import write_reply
from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol.messages import (
    ErrorReply,
    OkReply,
    WriteAbort,
    WriteChunkData,
    WriteCommit,
    WriteReply,
)

__all__ = ["serve_write"]

_BATCH_BYTES = 4 * 1024 * 1024

RunInThread = Callable[..., Awaitable[Any]]


def _commit_parameters(writer: FileWriter) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(writer.commit).parameters)
    except (TypeError, ValueError):
        return frozenset()


class _Body:
    """Size and (unless the writer verifies) SHA-256 of what arrived."""

    def __init__(self, writer: FileWriter) -> None:
        self.writer = writer
        self._parameters = _commit_parameters(writer)
        self.verifies = "expected_sha256" in self._parameters
        self.digest = None if self.verifies else hashlib.sha256()
        self.size = 0

    def write_batch(self, batch: list[bytes]) -> None:
        for data in batch:
            self.writer.write(data)
            if self.digest is not None:
                self.digest.update(data)

    def mismatch(self, expected_size: int, expected_digest: bytes) -> str | None:
        if self.size != expected_size:
            return (
                f"the write was not committed: {self.size} bytes arrived, "
                f"the client sent {expected_size}"
            )
        if self.digest is not None and self.digest.digest() != expected_digest:
            return "the write was not committed: the content's SHA-256 differs from the client's"
        return None

    def commit(self, expected_size: int, expected_digest: bytes) -> WriteReceipt:
        if self.verifies:
            commit: Callable[..., WriteReceipt] = self.writer.commit
            if "expected_size" in self._parameters:
                return commit(expected_sha256=expected_digest.hex(), expected_size=expected_size)
            return commit(expected_sha256=expected_digest.hex())
        return self.writer.commit()


async def serve_write(
    link: AsyncLink,
    stream_id: int,
    writer: FileWriter,
    *,
    path: str,
    in_thread: RunInThread,
) -> None:
    """Serve the write stream until commit or abort; abort on any other ending.

    Raises:
        BackendError: the disk refused (the caller turns it into an ERROR reply).
    """
    body = _Body(writer)
    committed = False  # or aborted: nothing left to undo
    try:
        while True:
            message = await link.receive(stream_id)
            if isinstance(message, WriteChunkData):
                batch = _gather_chunks(link.channel, stream_id, message.data)
                body.size += sum(len(part) for part in batch)
                await in_thread(body.write_batch, batch)
                continue
            reply = await _finish(body, message, path, in_thread)
            committed = isinstance(reply, WriteReply)
            if not committed:  # abort before answering: the client may look at once
                committed = True
                await in_thread(writer.abort)
            await link.send(stream_id, reply, end=True)
            return
    finally:
        if not committed:
            with anyio.CancelScope(shield=True):
                await in_thread(writer.abort)


async def _finish(
    body: _Body, message: Message | None, path: str, in_thread: RunInThread
) -> Message:
    match message:
        case WriteCommit(expected_size=size, expected_sha256=digest):
            problem = body.mismatch(size, digest)
            if problem is not None:
                return ErrorReply(WireErrorCode.WRITE_MISMATCH, problem, (("path", path),))
            try:
                receipt: WriteReceipt = await in_thread(body.commit, size, digest)
            except WriteMismatchError as error:  # nothing renamed, the temporary file removed
                return ErrorReply(WireErrorCode.WRITE_MISMATCH, error.message, (("path", path),))
            return write_reply(receipt)
        case WriteAbort() | None:
            return OkReply()
        case _:
            text = f"{type(message).__name__} is not part of a write"
            return ErrorReply(WireErrorCode.PROTOCOL_ERROR, text, (("path", path),))


def _gather_chunks(channel: Channel, stream_id: int, first: bytes) -> list[bytes]:
    """``first`` and the chunks already waiting behind it (one worker-thread hop for many)."""
    batch = [first]
    total = len(first)
    while total < _BATCH_BYTES and isinstance(peeked := channel.peek(stream_id), WriteChunkData):
        channel.take(stream_id)
        batch.append(peeked.data)
        total += len(peeked.data)
    return batch
