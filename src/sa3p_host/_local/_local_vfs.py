"""``LocalVfs``: the engine's ``VirtualFileSystem`` over a directory of this machine.

Every path is confined to the root (``_paths``), writes are atomic and streamed (``_writer``),
listings agree with git (``_listing``). Paths in results are relative to the root and
``/``-separated, after symlinks are resolved (a file reached through a link inside the workspace
is reported under its real name).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from sa3p_engine import ErrorCode, FileHash, FileStat, FileSystemError, NodeKind, TreeNode
from sa3p_host._local._atomic_writes import LocalFileWriter
from sa3p_host._local._confinement import Confinement, ResolvedPath, error_from_os

if TYPE_CHECKING:
    from sa3p_host._local._git_listing import Lister

__all__ = ["LocalVfs"]

_READ_BLOCK = 1 << 20
_DAY = 24 * 60 * 60.0
_REMEMBERED = 256
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Signature(NamedTuple):
    """What must be unchanged for a cached hash to still be right."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int


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


class LocalVfs:
    """A workspace directory on this machine, confined to ``root``.

    Args:
        root: the workspace directory (must exist).
        recent_window: seconds within which a file counts as ``modified_recently`` (24 h).
        stale_temporary_age: our temporary files untouched this long are removed when a listing
            meets them (a crashed write's leftovers); younger ones are only hidden.

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
        self._recent_window = recent_window
        self._stale_temporary_age = stale_temporary_age
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
        """Kind, size and mtime of ``path`` (symlinks inside the workspace are followed)."""
        resolved = self._confinement.resolve(path)
        try:
            info = os.stat(resolved.real)
        except OSError as exc:
            raise error_from_os(exc, resolved.shown, "stat") from exc
        kind = NodeKind.DIRECTORY if stat.S_ISDIR(info.st_mode) else NodeKind.FILE
        return FileStat(path=resolved.relative, kind=kind, size=info.st_size, mtime=info.st_mtime)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Up to ``length`` bytes of ``path`` from ``offset`` (to the end when None)."""
        if offset < 0 or (length is not None and length < 0):
            raise FileSystemError(
                ErrorCode.INVALID_PATH,
                f"cannot read {path!r}: offset and length must not be negative",
                path=path,
            )
        resolved = self._confinement.resolve(path)
        fd = self._open_for_reading(resolved)
        try:
            data = self._read_range(fd, resolved, offset, length)
        finally:
            os.close(fd)
        self._remember(resolved.relative)
        return data

    def open_writer(self, path: str) -> LocalFileWriter:
        """Start an atomic write of ``path`` (``_atomic_writes`` says what is guaranteed)."""
        resolved = self._confinement.resolve(path)
        if resolved.relative == "" or os.path.isdir(resolved.real):
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
        )

    def hash(self, path: str) -> str:
        """SHA-256 of the content of ``path``, lowercase hex."""
        resolved = self._confinement.resolve(path)
        return self._hash_resolved(resolved)

    def list_tree(self, path: str = "") -> list[TreeNode]:
        """Every non-ignored node below ``path``, sorted by path (git's view; see ``_listing``)."""
        resolved = self._confinement.resolve(path)
        if not os.path.isdir(resolved.real):
            code = (
                ErrorCode.NOT_A_DIRECTORY
                if os.path.exists(resolved.real)
                else (ErrorCode.NOT_FOUND)
            )
            reason = "it is not a directory" if code is ErrorCode.NOT_A_DIRECTORY else "not found"
            raise FileSystemError(
                code, f"cannot list {resolved.shown!r}: {reason}", path=resolved.relative
            )
        return self._listing().list_below(resolved.real, resolved.relative)

    def _listing(self) -> Lister:
        if self._lister is None:
            from sa3p_host._local._git_listing import Lister  # noqa: PLC0415 - see __init__

            self._lister = Lister(
                self.root,
                recent_window=self._recent_window,
                stale_temporary_age=self._stale_temporary_age,
            )
        return self._lister

    def recent_file_hashes(self, limit: int) -> list[FileHash]:
        """Files this object read or wrote, newest first, with current hashes (gone ones left
        out)."""
        result: list[FileHash] = []
        for relative in reversed(self._recent):
            if len(result) >= limit:
                break
            resolved = ResolvedPath(
                real=os.path.join(self.root, relative), relative=relative, requested=relative
            )
            with contextlib.suppress(FileSystemError):
                result.append(FileHash(relative, self._hash_resolved(resolved)))
        return result

    def _open_for_reading(self, resolved: ResolvedPath) -> int:
        try:
            fd = os.open(resolved.real, _READ_FLAGS)
        except OSError as exc:
            raise error_from_os(exc, resolved.shown, "read") from exc
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileSystemError(
                ErrorCode.IS_A_DIRECTORY,
                f"cannot read {resolved.shown!r}: it is a directory",
                path=resolved.relative,
            )
        return fd

    @staticmethod
    def _read_range(fd: int, resolved: ResolvedPath, offset: int, length: int | None) -> bytes:
        try:
            if length is None:
                length = max(0, os.fstat(fd).st_size - offset)
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
            raise error_from_os(exc, resolved.shown, "read") from exc
        return b"".join(pieces)

    def _hash_resolved(self, resolved: ResolvedPath) -> str:
        fd = self._open_for_reading(resolved)
        try:
            info = os.fstat(fd)
            signature = _Signature(info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
            cached = self._hashes.get(resolved.relative)
            if cached is not None and cached[0] == signature:
                return cached[1]
            digest = hashlib.sha256()
            offset = 0
            while piece := os.pread(fd, _READ_BLOCK, offset):
                digest.update(piece)
                offset += len(piece)
        except OSError as exc:
            raise error_from_os(exc, resolved.shown, "hash") from exc
        finally:
            os.close(fd)
        self._cache_hash(resolved.relative, signature, digest.hexdigest())
        return digest.hexdigest()

    def _cache_hash(self, relative: str, signature: _Signature, sha256: str) -> None:
        self._hashes[relative] = (signature, sha256)
        if len(self._hashes) > 4 * _REMEMBERED:
            self._hashes.pop(next(iter(self._hashes)))

    def _committed(self, target: ResolvedPath, sha256: str) -> None:
        # The writer hashed the content on the way in: seed the cache so the state header does
        # not read a just-written (possibly huge) file a second time.
        with contextlib.suppress(OSError):
            info = os.stat(target.real)
            signature = _Signature(info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
            self._cache_hash(target.relative, signature, sha256)
        self._remember(target.relative)

    def _remember(self, relative: str) -> None:
        self._recent[relative] = None
        self._recent.move_to_end(relative)
        while len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)
