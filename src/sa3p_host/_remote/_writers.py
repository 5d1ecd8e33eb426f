"""The two ``FileWriter``s of a remote write: one per client driver.

Both stream the body as VFS_WRITE_CHUNK frames and hash it once, in the caller's thread, while
sending (the commit frame carries the size and SHA-256; the guest's writer checks them against
the digest it computes while writing, so the body is hashed once on each side). A failure the
guest reports early (disk full...) is raised by the next ``write``; ``abort``, an error or a lost
connection commits nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal

from sa3p_engine import ErrorCode, FileSystemError, WriteReceipt
from sa3p_host._remote._blocking import BlockingClient
from sa3p_host._remote._client import RemoteWriteStream
from sa3p_host._remote._errors import (
    RemoteConnectionError,
    RemoteOperationError,
    as_backend_error,
)
from sa3p_host._remote._exchange import receipt
from sa3p_protocol.messages import WriteAbort, WriteChunkData, WriteCommit, WriteOpenRequest

__all__ = ["BlockingFileWriter", "RemoteFileWriter"]

_HASH_BEHIND_AFTER = 1 << 20

P = ParamSpec("P")
T = TypeVar("T")


class BlockingFileWriter:
    """``FileWriter`` over a ``BlockingClient``: ``write`` sends in the caller's thread,
    waiting for flow-control credit (a slow guest disk slows the writer, memory stays bounded).

    Args:
        client: the connection.
        path: the file to write on the guest.
    """

    def __init__(self, client: BlockingClient, path: str) -> None:
        self._client = client
        self._where = str(client.address)
        self.path = path
        self._stream_id = client.open_stream(WriteOpenRequest(path))
        self._digest = hashlib.sha256()
        self._size = 0
        self._closed = False
        self._hasher: ThreadPoolExecutor | None = None
        self._hashing: Future[None] | None = None

    def write(self, data: bytes) -> None:
        """Append ``data`` (any size; chunk boundaries carry no meaning)."""
        self._check_open("write")
        data = bytes(data)  # hashed behind: a caller's buffer may change once we return
        self._hash(data)
        self._size += len(data)
        limit = self._client.max_send_payload
        with self._failing():
            if len(data) <= limit:
                self._client.send(self._stream_id, WriteChunkData(bytes(data)))
                return
            view = memoryview(data)
            for start in range(0, len(data), limit):
                chunk = WriteChunkData(bytes(view[start : start + limit]))
                self._client.send(self._stream_id, chunk)

    def commit(self) -> WriteReceipt:
        """Ask the guest to commit (it renames only if size and SHA-256 match).

        Raises:
            FileSystemError: the guest refused (WRITE_MISMATCH, the disk's reason...) or the
                connection is gone; nothing was committed.
        """
        self._check_open("commit")
        self._closed = True
        self._wait_hashed()
        with self._failing():
            commit = WriteCommit(self._size, self._digest.digest())
            self._client.send(self._stream_id, commit, end_stream=True)
            return receipt(self._client.finish(self._stream_id))

    def abort(self) -> None:
        """Discard the write; nothing changes on the guest. Does nothing once closed."""
        if self._closed:
            return
        self._closed = True
        self._wait_hashed()
        with contextlib.suppress(RemoteOperationError, RemoteConnectionError):
            self._client.send(self._stream_id, WriteAbort(), end_stream=True)
            self._client.finish(self._stream_id)
        self._client.release(self._stream_id)

    def _hash(self, data: bytes) -> None:
        # Small bodies are hashed here. Past _HASH_BEHIND_AFTER bytes, a helper thread hashes
        # each chunk while this thread sends it (both release the GIL); at most one chunk is
        # being hashed, so order is kept and nothing piles up.
        if self._size < _HASH_BEHIND_AFTER:
            self._digest.update(data)
            return
        self._wait_hashed()
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sa3p-hash")
        self._hashing = self._hasher.submit(self._digest.update, data)

    def _wait_hashed(self) -> None:
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None
        if self._closed and self._hasher is not None:
            self._hasher.shutdown()
            self._hasher = None

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        try:
            yield
        except (RemoteOperationError, RemoteConnectionError) as error:
            self._closed = True
            self._wait_hashed()
            self._client.release(self._stream_id)
            raise as_backend_error(error, FileSystemError, self._where) from error

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise FileSystemError(
                ErrorCode.WRITER_CLOSED,
                f"cannot {action} {self.path!r}: the write is already finished",
                path=self.path,
            )


class RemoteFileWriter:
    """``FileWriter`` over a ``RemoteWriteStream``.

    Pipelined: ``write`` hashes its chunk in the caller's thread while the previous chunk is
    still being sent, then hands this one to the event loop and returns. At most one chunk is
    in flight, so order is kept and memory bounded; a failure of a chunk is raised by the next
    ``write`` or by ``commit`` (as ``LocalFileWriter`` reports a failed background write).
    """

    def __init__(self, stream: RemoteWriteStream, portal: BlockingPortal, where: str) -> None:
        self._stream = stream
        self._portal = portal
        self._where = where
        self._pending: Future[None] | None = None

    def write(self, data: bytes) -> None:
        self._stream.digest.update(data)  # hashlib drops the GIL: overlaps the pending send
        self._wait_pending()  # first: a failed chunk's own reason beats "already finished"
        self._check_open("write")
        self._pending = self._portal.start_task_soon(self._stream.send_hashed, data)

    def commit(self) -> WriteReceipt:
        self._wait_pending()
        self._check_open("commit")
        return self._do(self._stream.commit)

    def abort(self) -> None:
        with contextlib.suppress(FileSystemError):
            self._wait_pending()
        if not self._stream.closed:
            self._do(self._stream.abort)

    def _check_open(self, action: str) -> None:
        if self._stream.closed:
            raise FileSystemError(
                ErrorCode.WRITER_CLOSED,
                f"cannot {action} {self._stream.path!r}: the write is already finished",
                path=self._stream.path,
            )

    def _wait_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except (RemoteOperationError, RemoteConnectionError) as error:
            raise as_backend_error(error, FileSystemError, self._where) from error

    def _do(self, function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return self._portal.call(lambda: function(*args, **kwargs))
        except (RemoteOperationError, RemoteConnectionError) as error:
            raise as_backend_error(error, FileSystemError, self._where) from error
        except RuntimeError as error:  # the portal's loop is gone: the connection with it
            raise FileSystemError(
                ErrorCode.CONNECTION_LOST, f"the connection to {self._where} is closed"
            ) from error
