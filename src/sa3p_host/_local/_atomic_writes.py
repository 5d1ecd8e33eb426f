"""Atomic, streaming file writes: a temporary file beside the target, then fsync and rename.

Chunks go straight to ``.<name>.sa3p-<random>.tmp`` in the target's directory (same
filesystem, so the final ``os.replace`` is atomic). Past the first MiB, a write hands its chunks
to two worker threads that write and hash them (both release the GIL) while the caller goes on
parsing: a bounded queue (``_QUEUED_CHUNKS``) keeps memory bounded, and a failure of the worker
surfaces at the next ``write`` or at ``commit``. Past ``_WRITEBACK_AFTER`` bytes, the writer
thread also asks the kernel (``posix_fadvise(DONTNEED)``, which on Linux starts writeback of the
range and drops its clean pages) to flush each ``_WRITEBACK_WINDOW`` a window behind the write:
the disk works while the data still arrives, so the fsync at commit has little left to do (for
256 MiB, ~10 ms instead of ~80 ms), and a huge write does not fill the page cache. The price:
a later read of that file comes from the disk. Nothing is visible at the target until
``commit``: the temporary file is fsynced, given the old file's mode (or the umask default for a
new file), renamed over the target, and the directory is fsynced. ``abort``, an exception or a
crash leaves the old file as it was; a temporary file left by a crash is hidden from listings
and removed once stale (``remove_stale_temporary``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import stat
import threading
import time
from collections.abc import Callable

from sa3p_engine import ErrorCode, FileSystemError, WriteReceipt
from sa3p_host._local._confinement import Confinement, ResolvedPath, error_from_os

__all__ = [
    "LocalFileWriter",
    "WriteMismatchError",
    "is_temporary_name",
    "remove_stale_temporary",
]

_PIPELINE_AFTER = 1 << 20
_WRITEBACK_WINDOW = 8 << 20
_WRITEBACK_AFTER = 2 * _WRITEBACK_WINDOW
_DONT_NEED = getattr(os, "POSIX_FADV_DONTNEED", None)
_QUEUED_CHUNKS = 4
_PARENT_ATTEMPTS = 3
_TEMPORARY = re.compile(r"\A\..*\.sa3p-[0-9a-f]{16}\.tmp\Z", re.DOTALL)
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class WriteMismatchError(FileSystemError):
    """``commit`` refused: the content is not what the caller expected (size or SHA-256).

    Its code is ``WRITE_MISMATCH``, the same name the protocol answers with.
    """


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is one of our temporary files (hidden from listings)."""
    return name.startswith(".") and name.endswith(".tmp") and bool(_TEMPORARY.match(name))


def remove_stale_temporary(path: str, max_age: float) -> None:
    """Remove our temporary file ``path`` if nothing wrote to it for ``max_age`` seconds."""
    with contextlib.suppress(OSError):
        if time.time() - os.lstat(path).st_mtime > max_age:
            os.unlink(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Pipeline:
    """Two worker threads, one writing and one hashing the queued chunks, each in order.

    Both ``os.write`` and SHA-256 release the GIL, so with the caller parsing, three things
    proceed at once. ``None`` in a queue means "no more chunks". After a failure the writer
    keeps taking chunks (so the producer never blocks) but drops them; ``error`` says why.
    """

    def __init__(self, fd: int, digest: hashlib._Hash, offset: int) -> None:
        self._fd = fd
        self._offset = offset
        self._digest = digest
        self._to_write: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_CHUNKS)
        self._to_hash: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_CHUNKS)
        self.error: OSError | None = None
        self._threads = [
            threading.Thread(target=self._write, name="sa3p-write", daemon=True),
            threading.Thread(target=self._hash, name="sa3p-hash", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def put(self, data: bytes | None) -> None:
        self._to_write.put(data)
        self._to_hash.put(data)

    def finish(self) -> None:
        """Wait until every queued chunk is written (or dropped after a failure) and hashed."""
        self.put(None)
        for thread in self._threads:
            thread.join()

    def _write(self) -> None:
        written, flushed = self._offset, 0
        while (data := self._to_write.get()) is not None:
            if self.error is None:
                try:
                    _write_all(self._fd, data)
                except OSError as exc:
                    self.error = exc
                written += len(data)
                if written - flushed >= _WRITEBACK_AFTER:
                    flushed = _start_writeback(self._fd, flushed)

    def _hash(self) -> None:
        while (data := self._to_hash.get()) is not None:
            self._digest.update(data)


def _start_writeback(fd: int, start: int) -> int:
    """Start writing ``_WRITEBACK_WINDOW`` bytes from ``start`` to disk; return where it ends.

    Only a hint: where the OS lacks it or refuses, the fsync at commit does all the work.
    """
    if _DONT_NEED is not None:
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, start, _WRITEBACK_WINDOW, _DONT_NEED)
    return start + _WRITEBACK_WINDOW


class LocalFileWriter:
    """One atomic write to one resolved path (``sa3p_engine.FileWriter``).

    Args:
        target: where the file will appear.
        confinement: used to re-check at commit that the directory is still inside the root.
        default_mode: the mode for a new file.
        on_commit: called with the target and the content's SHA-256 after a commit.
    """

    def __init__(
        self,
        target: ResolvedPath,
        confinement: Confinement,
        *,
        default_mode: int,
        on_commit: Callable[[ResolvedPath, str], None],
    ) -> None:
        self._target = target
        self._confinement = confinement
        self._default_mode = default_mode
        self._on_commit = on_commit
        self._fd: int | None = None
        self._temporary: str | None = None
        self._created_dirs: list[str] = []
        self._hash = hashlib.sha256()
        self._size = 0
        self._pipeline: _Pipeline | None = None
        self._closed = False

    def write(self, data: bytes) -> None:
        """Append ``data``; chunk boundaries carry no meaning.

        Raises:
            FileSystemError: WRITER_CLOSED after commit/abort, or the reason the disk refused
                (possibly for an earlier chunk, once the worker thread writes them).
        """
        self._check_open("write")
        fd = self._fd if self._fd is not None else self._open_temporary()
        self._size += len(data)
        if self._pipeline is not None:
            self._raise_if_failed(self._pipeline.error)
            self._pipeline.put(bytes(data))
            return
        try:
            _write_all(fd, data)
        except OSError as exc:
            self.abort()
            raise error_from_os(exc, self._target.shown, "write") from exc
        self._hash.update(data)
        if self._size > _PIPELINE_AFTER:
            self._pipeline = _Pipeline(fd, self._hash, self._size)

    def _raise_if_failed(self, error: OSError | None) -> None:
        if error is not None:
            self.abort()
            raise error_from_os(error, self._target.shown, "write") from error

    def _stop_pipeline(self) -> OSError | None:
        """Wait for the worker (if any) to finish; return its failure, if any."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is None:
            return None
        pipeline.finish()
        return pipeline.error

    def commit(
        self, *, expected_sha256: str | None = None, expected_size: int | None = None
    ) -> WriteReceipt:
        """Make the new content visible at the target, atomically.

        Args:
            expected_sha256: lowercase hex SHA-256 the content must have (a remote client's,
                checked against the digest computed while writing: no second hash).
            expected_size: the byte count the content must have.

        Raises:
            FileSystemError: WRITER_CLOSED, WRITE_MISMATCH when the content differs from what
                was expected, OUTSIDE_WORKSPACE if the directory moved, or the OS reason; the
                old file is then left as it was and the temporary file removed.
        """
        self._check_open("commit")
        fd = self._fd if self._fd is not None else self._open_temporary()
        self._raise_if_failed(self._stop_pipeline())
        digest = self._hash.hexdigest()
        self._refuse_mismatch(digest, expected_sha256, expected_size)
        try:
            created = self._finish(fd)
        except FileSystemError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise error_from_os(exc, self._target.shown, "write") from exc
        self._closed = True
        self._on_commit(self._target, digest)
        return WriteReceipt(
            path=self._target.relative, bytes_written=self._size, sha256=digest, created=created
        )

    def _refuse_mismatch(
        self, digest: str, expected_sha256: str | None, expected_size: int | None
    ) -> None:
        if expected_size is not None and expected_size != self._size:
            problem = f"{self._size} bytes arrived, {expected_size} were expected"
        elif expected_sha256 is not None and expected_sha256.lower() != digest:
            problem = "the content's SHA-256 differs from the expected one"
        else:
            return
        self.abort()
        raise WriteMismatchError(
            ErrorCode.WRITE_MISMATCH,
            f"{self._target.shown!r} was not committed: {problem}",
            path=self._target.relative,
        )

    def abort(self) -> None:
        """Drop the write: the target keeps its old content. Does nothing once closed."""
        if self._closed:
            return
        self._closed = True
        self._stop_pipeline()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temporary)
        for directory in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(directory)  # only if still empty: never removes anything of others

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise FileSystemError(
                ErrorCode.WRITER_CLOSED,
                f"cannot {action} {self._target.shown!r}: the write is already finished",
                path=self._target.relative,
            )

    def _open_temporary(self) -> int:
        directory, name = os.path.split(self._target.real)
        temporary = os.path.join(directory, f".{name}.sa3p-{os.urandom(8).hex()}.tmp")
        try:
            fd = self._create(directory, temporary)
        except OSError as exc:
            self.abort()
            raise error_from_os(exc, self._target.shown, "write") from exc
        self._fd = fd
        self._temporary = temporary
        return fd

    def _create(self, directory: str, temporary: str) -> int:
        for _ in range(_PARENT_ATTEMPTS - 1):
            self._make_parents(directory)
            try:
                return os.open(temporary, _OPEN_FLAGS, 0o600)
            except FileNotFoundError:
                # A concurrent writer's abort removed the (still empty) parent it had made,
                # between our check and our open: make it again.
                continue
        self._make_parents(directory)
        return os.open(temporary, _OPEN_FLAGS, 0o600)

    def _make_parents(self, directory: str) -> None:
        missing: list[str] = []
        while not os.path.isdir(directory):
            if os.path.lexists(directory):
                if os.path.isdir(directory):
                    break  # a concurrent writer made it between the two checks
                raise NotADirectoryError(20, "not a directory", directory)
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except FileExistsError:
                if not os.path.isdir(path):
                    raise
                continue  # a concurrent writer made it: it is theirs, never ours to remove
            self._created_dirs.append(path)

    def _finish(self, fd: int) -> bool:
        target = self._target.real
        try:
            old = os.stat(target)
        except FileNotFoundError:
            old = None
        if old is not None and stat.S_ISDIR(old.st_mode):
            raise error_from_os(
                IsADirectoryError(21, "is a directory"), self._target.shown, "write"
            )
        os.fchmod(fd, stat.S_IMODE(old.st_mode) if old is not None else self._default_mode)
        os.fsync(fd)
        os.close(fd)
        self._fd = None
        directory = os.path.dirname(target)
        self._confinement.check_still_inside(
            ResolvedPath(
                real=directory,
                relative=self._confinement.relative_of(directory) or "",
                requested=self._target.requested,
            )
        )
        assert self._temporary is not None
        os.replace(self._temporary, target)
        self._temporary = None
        _fsync_directory(directory)
        return old is None


def _fsync_directory(directory: str) -> None:
    # Makes the rename durable (POSIX); some filesystems refuse O_RDONLY fsync on dirs: ignore.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
