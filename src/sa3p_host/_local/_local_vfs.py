"""``LocalVfs``: the engine's ``VirtualFileSystem`` over a directory of this machine.

Every path is resolved beneath a descriptor of the root and used only through the descriptors
the resolution returns (``_confinement``); only regular files are read (``_regular_files``);
writes are atomic and streamed (``_atomic_writes``, ``_write_staging``); listings agree with
git (``_git_listing``). Paths in results are relative to the root and ``/``-separated, after
symlinks are resolved (a file reached through a link inside the workspace is reported under
its real name). ``docs/THREAT_MODEL_LOCAL.md`` states what this guarantees against whom.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from sa3p_engine import ErrorCode, FileHash, FileStat, FileSystemError, NodeKind, TreeNode
from sa3p_host._local._atomic_writes import LocalFileWriter
from sa3p_host._local._confinement import O_PATH, Confinement, ResolvedPath, error_from_os
from sa3p_host._local._regular_files import open_regular, refuse_unless_regular
from sa3p_host._local._write_staging import Staging

if TYPE_CHECKING:
    from sa3p_host._local._git_listing import Lister

__all__ = ["LocalVfs"]

_READ_BLOCK = 1 << 20
_DAY = 24 * 60 * 60.0
_REMEMBERED = 256
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


class _Signature(NamedTuple):
    """What must be unchanged for a cached hash to still be right."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> _Signature:
        return cls(info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)


def _process_umask() -> int:
    """The umask, read without changing it where Linux allows (``/proc/self/status``)."""
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as handle,
    ):
        for line in handle:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _without_final_slash(path: str) -> str:
    """``path`` without trailing ``/`` (so that leaving the workspace is the error reported)."""
    return path.rstrip("/") or path


def _refuse_directory_name(path: str, resolved: ResolvedPath, action: str) -> None:
    """A write or removal needs a file name: ``dir/``, ``dir/.`` and ``dir/..`` are not one
    (called once ``resolved`` showed the path to be inside, so that error comes first)."""
    if path.endswith("/"):
        raise FileSystemError(
            ErrorCode.INVALID_PATH,
            f"cannot {action} {path!r}: it ends with '/', so it names a directory, not a file",
            path=path,
        )
    if not resolved.relative or path.rpartition("/")[2] in (".", ".."):
        raise FileSystemError(
            ErrorCode.IS_A_DIRECTORY,
            f"cannot {action} {resolved.shown!r}: it is a directory",
            path=resolved.relative,
        )


class LocalVfs:
    """A workspace directory on this machine, confined to ``root``.

    Args:
        root: the workspace directory (must exist).
        recent_window: seconds within which a file counts as recently modified (24 h).
        stale_temporary_age: where the filesystem has no ``flock``, staged files of crashed
            writes older than this are removed at start (elsewhere: every one whose writer is
            gone; see ``_write_staging``).

    Raises:
        FileSystemError: NOT_FOUND / NOT_A_DIRECTORY when ``root`` is not a directory.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        recent_window: float = _DAY,
        stale_temporary_age: float = 3600.0,
    ) -> None:
        self._confinement = Confinement(root)
        self._staging = Staging(self._confinement, stale_age=stale_temporary_age)
        self._staging.sweep()  # a crashed earlier run's staged files
        self._recent_window = recent_window
        self._lister: Lister | None = None  # made on the first listing: start-up time
        self._default_mode = 0o666 & ~_process_umask()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._hashes: dict[str, tuple[_Signature, str]] = {}

    @property
    def root(self) -> str:
        """The real (symlink-free) path of the workspace root."""
        return self._confinement.root

    def cwd(self) -> str:
        """The workspace root as the model sees it: its real absolute path."""
        return self._confinement.root

    def stat(self, path: str) -> FileStat:
        """Kind, size and mtime of ``path`` (symlinks inside the workspace are followed).

        Raises:
            FileSystemError: as ``open``; INVALID_PATH for a FIFO, socket or device ("x is a
                FIFO, not a regular file"): its size means nothing to a reader.
        """
        with self._confinement.open(path, O_PATH, action="stat") as opened:
            info = opened.info
        if stat.S_ISDIR(info.st_mode):
            kind = NodeKind.DIRECTORY
        else:
            refuse_unless_regular(info, opened.path.shown)
            kind = NodeKind.FILE
        return FileStat(
            path=opened.path.relative, kind=kind, size=info.st_size, mtime=info.st_mtime
        )

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Up to ``length`` bytes of regular file ``path`` from ``offset`` (to the end if None)."""
        if offset < 0 or (length is not None and length < 0):
            raise FileSystemError(
                ErrorCode.INVALID_PATH,
                f"cannot read {path!r}: offset and length must not be negative",
                path=path,
            )
        with open_regular(self._confinement, path, "read") as opened:
            data = _read_range(opened.fd, opened.path, offset, length, opened.info.st_size)
        self._remember(opened.path.relative)
        return data

    def open_writer(self, path: str) -> LocalFileWriter:
        """Start an atomic write of ``path`` (``_atomic_writes`` says what is guaranteed).

        Raises:
            FileSystemError: INVALID_PATH for a name ending in ``/``; IS_A_DIRECTORY for a
                directory; the resolution's errors.
        """
        resolved = self._confinement.resolve(_without_final_slash(path), action="write")
        _refuse_directory_name(path, resolved, "write")
        if self._is_directory(resolved):
            raise FileSystemError(
                ErrorCode.IS_A_DIRECTORY,
                f"cannot write {resolved.shown!r}: it is a directory",
                path=resolved.relative,
            )
        return LocalFileWriter(
            resolved,
            self._confinement,
            default_mode=self._default_mode,
            on_commit=self._committed,
            staging=self._staging,
        )

    def remove(self, path: str) -> None:
        """Remove the file ``path`` (a symlink itself, not its target), atomically (``unlinkat``).

        Directories on the way are resolved beneath the root (links inside it followed); the
        last component is never followed. Anything but a directory is removed.

        Raises:
            FileSystemError: NOT_FOUND; IS_A_DIRECTORY (also for ``dir/.``); INVALID_PATH for a
                name ending in ``/``; OUTSIDE_WORKSPACE; PERMISSION_DENIED.
        """
        named = self._confinement.resolve(
            _without_final_slash(path), follow_final=False, action="remove"
        )
        _refuse_directory_name(path, named, "remove")
        with self._confinement.locate(path, follow_final=False, action="remove") as place:
            try:
                os.unlink(place.name, dir_fd=place.directory)
            except OSError as exc:
                raise error_from_os(exc, place.path.shown, "remove") from exc
        self._recent.pop(place.path.relative, None)
        self._hashes.pop(place.path.relative, None)

    def hash(self, path: str) -> str:
        """SHA-256 of the content of regular file ``path``, lowercase hex."""
        return self._hash_path(path)

    def list_tree(self, path: str = "") -> list[TreeNode]:
        """Every non-ignored node below ``path``, sorted by path (git's view: ``_git_listing``)."""
        with self._confinement.open(path, _DIRECTORY_FLAGS, action="list") as opened:
            if not stat.S_ISDIR(opened.info.st_mode):  # only where O_DIRECTORY is missing
                raise error_from_os(NotADirectoryError(20, "not a directory"), path, "list")
            return self._listing().list_below(opened.fd, opened.path.relative)

    def recently_modified(self, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` whose mtime (a link's own) is within the recent window, in order;
        a path that is gone, outside the workspace or unreadable is left out. One confined
        ``lstat`` each: the engine asks about the files it shows, never the whole listing."""
        after = time.time() - self._recent_window
        recent: list[str] = []
        for path in paths:
            try:
                with self._confinement.locate(path, follow_final=False, action="stat") as place:
                    info = os.stat(place.name or ".", dir_fd=place.directory, follow_symlinks=False)
            except (FileSystemError, OSError):
                continue
            if info.st_mtime >= after:
                recent.append(path)
        return recent

    def recent_file_hashes(self, limit: int) -> list[FileHash]:
        """Files this object read or wrote, newest first, with current hashes (gone ones, and
        ones that are no longer regular files, left out)."""
        result: list[FileHash] = []
        for relative in reversed(self._recent):
            if len(result) >= limit:
                break
            with contextlib.suppress(FileSystemError):
                result.append(FileHash(relative, self._hash_path(relative)))
        return result

    def _listing(self) -> Lister:
        if self._lister is None:
            from sa3p_host._local._git_listing import Lister  # noqa: PLC0415 - see __init__

            self._lister = Lister(self._confinement, staging=self._staging)
        return self._lister

    def _is_directory(self, resolved: ResolvedPath) -> bool:
        try:
            with self._confinement.locate(resolved.relative, action="write") as place:
                info = os.stat(place.name or ".", dir_fd=place.directory, follow_symlinks=False)
        except (FileSystemError, OSError):
            return False  # missing (made at commit) or unreadable: the write says why
        return stat.S_ISDIR(info.st_mode)

    def _hash_path(self, path: str) -> str:
        with open_regular(self._confinement, path, "hash") as opened:
            signature = _Signature.of(opened.info)
            relative = opened.path.relative
            cached = self._hashes.get(relative)
            if cached is not None and cached[0] == signature:
                return cached[1]
            digest = hashlib.sha256()
            try:
                offset = 0
                while piece := os.pread(opened.fd, _READ_BLOCK, offset):
                    digest.update(piece)
                    offset += len(piece)
            except OSError as exc:
                raise error_from_os(exc, opened.path.shown, "hash") from exc
        self._cache_hash(relative, signature, digest.hexdigest())
        return digest.hexdigest()

    def _cache_hash(self, relative: str, signature: _Signature, sha256: str) -> None:
        self._hashes[relative] = (signature, sha256)
        if len(self._hashes) > 4 * _REMEMBERED:
            self._hashes.pop(next(iter(self._hashes)))

    def _committed(self, target: ResolvedPath, sha256: str, info: os.stat_result) -> None:
        # The writer hashed the content on the way in: seed the cache so the state header does
        # not read a just-written (possibly huge) file a second time.
        self._cache_hash(target.relative, _Signature.of(info), sha256)
        self._remember(target.relative)

    def _remember(self, relative: str) -> None:
        self._recent[relative] = None
        self._recent.move_to_end(relative)
        while len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)


def _read_range(fd: int, path: ResolvedPath, offset: int, length: int | None, size: int) -> bytes:
    try:
        if length is None:
            length = max(0, size - offset)
        pieces: list[bytes] = []
        remaining = length
        while remaining > 0:
            piece = os.pread(fd, min(remaining, _READ_BLOCK), offset)
            if not piece:
                break
            pieces.append(piece)
            offset += len(piece)
            remaining -= len(piece)
    except OSError as exc:
        raise error_from_os(exc, path.shown, "read") from exc
    return b"".join(pieces)
