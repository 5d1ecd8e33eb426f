"""Atomic, streaming file writes: a staged file, then fsync and an atomic link or rename.

Chunks go straight to a staged file (``_write_staging``: an unnamed ``O_TMPFILE`` on the
target's filesystem, or a named one in the workspace's staging folder). Past the first MiB, a
write hands its chunks to two worker threads that write and hash them (both release the GIL)
while the caller goes on parsing: a bounded queue (``_QUEUED_CHUNKS``) keeps memory bounded, and
a failure of the worker surfaces at the next ``write`` or at ``commit``. Past
``_WRITEBACK_AFTER`` bytes, the writer thread also asks the kernel (``posix_fadvise(DONTNEED)``,
which on Linux starts writeback of the range and drops its clean pages) to flush each
``_WRITEBACK_WINDOW`` a window behind the write: the disk works while the data still arrives, so
the fsync at commit has little left to do (for 256 MiB, ~10 ms instead of ~80 ms), and a huge
write does not fill the page cache. The price: a later read of that file comes from the disk.

Nothing is visible at the target until ``commit``. There the target's directory is resolved
again beneath the root (made again if a concurrent writer's abort removed it meanwhile: the
staged file is on the same filesystem and moves there), the staged file gets the old file's
mode (or the umask default for a new file), is fsynced, linked (a new file) or renamed (over an
old one) into place through the directory's descriptor, and the directory is fsynced.
``abort``, an exception or a crash leaves the old file as it was and nothing else behind (see
``_write_staging`` for the crash case). Names of up to 255 bytes work: no temporary name is
derived from the target's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable

from sa3p_engine import ErrorCode, FileSystemError, WriteReceipt
from sa3p_host._local._confinement import (
    Confinement,
    CreatedDirectory,
    Missing,
    Place,
    ResolvedPath,
    error_from_os,
)
from sa3p_host._local._write_staging import StagedFile, Staging

__all__ = ["LocalFileWriter", "WriteMismatchError"]

_PIPELINE_AFTER = 1 << 20
_WRITEBACK_WINDOW = 8 << 20
_WRITEBACK_AFTER = 2 * _WRITEBACK_WINDOW
_DONT_NEED = getattr(os, "POSIX_FADV_DONTNEED", None)
_QUEUED_CHUNKS = 4
_COMMIT_ATTEMPTS = 3


class WriteMismatchError(FileSystemError):
    """``commit`` refused: the content is not what the caller expected (size or SHA-256).

    Its code is ``WRITE_MISMATCH``, the same name the protocol answers with.
    """


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
        target: where the file will appear (resolved beneath the root).
        confinement: the workspace root; the target's directory is resolved through it at the
            first write and again at commit.
        default_mode: the mode for a new file.
        on_commit: called after a commit with the target, the content's SHA-256 and the new
            file's ``fstat``.
        staging: where the bytes wait (one per workspace; made here when not given).
    """

    def __init__(
        self,
        target: ResolvedPath,
        confinement: Confinement,
        *,
        default_mode: int,
        on_commit: Callable[[ResolvedPath, str, os.stat_result], None],
        staging: Staging | None = None,
    ) -> None:
        self._target = target
        self._confinement = confinement
        self._default_mode = default_mode
        self._on_commit = on_commit
        self._staging = staging if staging is not None else Staging(confinement)
        self._staged: StagedFile | None = None
        self._created_dirs: list[CreatedDirectory] = []
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
        fd = self._staged.fd if self._staged is not None else self._open_staged()
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
                was expected, OUTSIDE_WORKSPACE if the directory now resolves outside, or the
                OS reason; the old file is then left as it was and the staged file removed.
        """
        self._check_open("commit")
        if self._staged is None:
            self._open_staged()
        self._raise_if_failed(self._stop_pipeline())
        digest = self._hash.hexdigest()
        self._refuse_mismatch(digest, expected_sha256, expected_size)
        try:
            created, info = self._finish()
        except FileSystemError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise error_from_os(exc, self._target.shown, "write") from exc
        self._closed = True
        self._close_staged()
        self._on_commit(self._target, digest, info)
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
        self._close_staged()
        for created in reversed(self._created_dirs):
            with contextlib.suppress(OSError, FileSystemError):
                self._remove_if_unchanged(created)

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise FileSystemError(
                ErrorCode.WRITER_CLOSED,
                f"cannot {action} {self._target.shown!r}: the write is already finished",
                path=self._target.relative,
            )

    def _locate_target(self) -> Place:
        """The target's directory (made if missing) and name; its directories are recorded."""
        place = self._confinement.locate(
            self._target.relative, missing=Missing.CREATE, follow_final=False, action="write"
        )
        self._created_dirs += place.created
        if not place.name:
            os.close(place.directory)
            raise error_from_os(
                IsADirectoryError(21, "is a directory"), self._target.shown, "write"
            )
        return place

    def _open_staged(self) -> int:
        try:
            with self._locate_target() as place:
                self._staged = self._staging.create(place.directory)
        except FileSystemError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise error_from_os(exc, self._target.shown, "write") from exc
        return self._staged.fd

    def _finish(self) -> tuple[bool, os.stat_result]:
        """Put the staged file in place; (whether it is a new file, its fstat)."""
        assert self._staged is not None
        fd = self._staged.fd
        for _ in range(_COMMIT_ATTEMPTS):
            try:
                located = self._locate_target()
            except FileSystemError as error:
                if error.code is not ErrorCode.NOT_FOUND:
                    raise
                continue  # a concurrent abort removed a parent while it was being made again
            with located as place:
                old = _stat_or_none(place)
                if old is not None and stat.S_ISDIR(old.st_mode):
                    raise error_from_os(
                        IsADirectoryError(21, "is a directory"), self._target.shown, "write"
                    )
                keep = old is not None and stat.S_ISREG(old.st_mode)
                os.fchmod(fd, stat.S_IMODE(old.st_mode) if keep and old else self._default_mode)
                os.fsync(fd)
                try:
                    replaced = self._staging.commit(
                        self._staged, place.directory, place.name, replace=old is not None
                    )
                except FileNotFoundError:
                    continue  # a concurrent abort removed the (empty) directory: make it again
                _fsync_directory(place.directory)
                return not replaced, os.fstat(fd)
        raise error_from_os(
            FileNotFoundError(2, "directory kept vanishing"), self._target.shown, "write"
        )

    def _close_staged(self) -> None:
        if self._staged is not None:
            self._staging.discard(self._staged)
            self._staged = None

    def _remove_if_unchanged(self, created: CreatedDirectory) -> None:
        """Remove a directory this write made, if it is still that one and empty: a concurrent
        writer's directory is never removed, and a non-empty one cannot be."""
        with self._confinement.locate(
            created.relative, follow_final=False, action="clean up"
        ) as place:
            info = os.stat(place.name, dir_fd=place.directory, follow_symlinks=False)
            if (info.st_dev, info.st_ino) == created.identity:
                os.rmdir(place.name, dir_fd=place.directory)


def _stat_or_none(place: Place) -> os.stat_result | None:
    try:
        return os.stat(place.name, dir_fd=place.directory, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _fsync_directory(directory: int) -> None:
    # Makes the link or rename durable (POSIX); some filesystems refuse fsync on directories.
    with contextlib.suppress(OSError):
        fd = os.open(".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0), dir_fd=directory)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
