"""``MemoryFileSystem``: an in-memory ``VirtualFileSystem`` for tests and examples.

It keeps the same rules a real backend must keep (see ``VFS_CONFORMANCE``): paths are confined
to the root, writes are atomic (nothing visible before ``commit``), directories exist implicitly
as the parents of files, and listings are sorted by path.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sa3p_engine._backend import (
    ErrorCode,
    FileHash,
    FileStat,
    FileSystemError,
    FileWriter,
    NodeKind,
    TreeNode,
    WriteReceipt,
)

__all__ = ["MemoryFileSystem"]

ROOT = "/workspace"


@dataclass(slots=True)
class _Entry:
    data: bytes
    mtime: float
    recent: bool


@dataclass(slots=True)
class _MemoryWriter:
    """A pending write: chunks are kept aside until ``commit``."""

    filesystem: MemoryFileSystem
    path: str
    chunks: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, data: bytes) -> None:
        self._check_open()
        self.chunks.append(bytes(data))

    def commit(self) -> WriteReceipt:
        self._check_open()
        self.closed = True
        return self.filesystem._commit(self.path, b"".join(self.chunks))

    def abort(self) -> None:
        self.closed = True
        self.chunks.clear()

    def _check_open(self) -> None:
        if self.closed:
            raise FileSystemError(
                ErrorCode.WRITER_CLOSED, f"the writer for {self.path} is closed", path=self.path
            )


class MemoryFileSystem:
    """A workspace held in a dict; the root is shown to the model as ``/workspace``.

    Args:
        files: initial content, path to bytes; these count as not recently modified.
        clock: seconds since the epoch, for ``mtime`` (a counter by default, so runs repeat).
    """

    def __init__(
        self,
        files: Mapping[str, bytes] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._files: dict[str, _Entry] = {}
        self._ticks = 0.0
        self._clock = clock or self._tick
        self._recent: list[str] = []
        for path, data in (files or {}).items():
            self._files[self._normalize(path)] = _Entry(bytes(data), self._clock(), False)

    def cwd(self) -> str:
        return ROOT

    def stat(self, path: str) -> FileStat:
        key = self._normalize(path)
        entry = self._files.get(key)
        if entry is not None:
            return FileStat(path=key, kind=NodeKind.FILE, size=len(entry.data), mtime=entry.mtime)
        if self._is_directory(key):
            return FileStat(path=key or ".", kind=NodeKind.DIRECTORY, size=0, mtime=0.0)
        raise FileSystemError(ErrorCode.NOT_FOUND, f"{path} does not exist", path=path)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        key = self._normalize(path)
        data = self._file(key, path).data
        self._touch(key)
        end = len(data) if length is None else offset + max(length, 0)
        return data[max(offset, 0) : end]

    def open_writer(self, path: str) -> FileWriter:
        key = self._normalize(path)
        if not key or self._is_directory(key):
            raise FileSystemError(ErrorCode.IS_A_DIRECTORY, f"{path} is a directory", path=path)
        return _MemoryWriter(self, key)

    def hash(self, path: str) -> str:
        key = self._normalize(path)
        return hashlib.sha256(self._file(key, path).data).hexdigest()

    def remove(self, path: str) -> None:
        key = self._normalize(path)
        self._file(key, path)  # NOT_FOUND, IS_A_DIRECTORY
        del self._files[key]
        if key in self._recent:
            self._recent.remove(key)

    def list_tree(self, path: str) -> list[TreeNode]:
        base = self._normalize(path)
        if base in self._files:
            raise FileSystemError(ErrorCode.NOT_A_DIRECTORY, f"{path} is a file", path=path)
        if not self._is_directory(base):
            raise FileSystemError(ErrorCode.NOT_FOUND, f"{path} does not exist", path=path)
        prefix = f"{base}/" if base else ""
        files = [key for key in self._files if key.startswith(prefix)]
        directories: dict[str, int] = {}
        for key in files:
            parent = posixpath.dirname(key)
            while len(parent) > len(base):
                directories[parent] = directories.get(parent, 0) + 1
                parent = posixpath.dirname(parent)
        nodes = [TreeNode(path=key, kind=NodeKind.FILE) for key in files]
        nodes += [
            TreeNode(path=key, kind=NodeKind.DIRECTORY, descendant_file_count=count)
            for key, count in directories.items()
        ]
        return sorted(nodes, key=lambda node: node.path)

    def recently_modified(self, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` written since the filesystem was made (the initial files are not
        recent)."""
        recent: list[str] = []
        for path in paths:
            try:
                entry = self._files.get(self._normalize(path))
            except FileSystemError:
                continue  # a path it cannot serve is left out, as the interface says
            if entry is not None and entry.recent:
                recent.append(path)
        return recent

    def recent_file_hashes(self, limit: int) -> list[FileHash]:
        hashes = [
            FileHash(key, hashlib.sha256(self._files[key].data).hexdigest())
            for key in reversed(self._recent)
            if key in self._files
        ]
        return hashes[: max(limit, 0)]

    def _commit(self, key: str, data: bytes) -> WriteReceipt:
        self._check_parents(key)
        created = key not in self._files
        self._files[key] = _Entry(data, self._clock(), True)
        self._touch(key)
        digest = hashlib.sha256(data).hexdigest()
        return WriteReceipt(path=key, bytes_written=len(data), sha256=digest, created=created)

    def _check_parents(self, key: str) -> None:
        parent = posixpath.dirname(key)
        while parent:
            if parent in self._files:
                raise FileSystemError(
                    ErrorCode.NOT_A_DIRECTORY, f"{parent} is a file, not a directory", path=key
                )
            parent = posixpath.dirname(parent)
        if self._is_directory(key):
            raise FileSystemError(ErrorCode.IS_A_DIRECTORY, f"{key} is a directory", path=key)

    def _touch(self, key: str) -> None:
        if key in self._recent:
            self._recent.remove(key)
        self._recent.append(key)

    def _file(self, key: str, path: str) -> _Entry:
        entry = self._files.get(key)
        if entry is not None:
            return entry
        if self._is_directory(key):
            raise FileSystemError(ErrorCode.IS_A_DIRECTORY, f"{path} is a directory", path=path)
        raise FileSystemError(ErrorCode.NOT_FOUND, f"{path} does not exist", path=path)

    def _is_directory(self, key: str) -> bool:
        if not key:
            return True
        prefix = f"{key}/"
        return any(name.startswith(prefix) for name in self._files)

    def _normalize(self, path: str) -> str:
        """Workspace-relative ``/``-separated form; ``""`` is the root."""
        if not isinstance(path, str) or "\x00" in path:
            raise FileSystemError(ErrorCode.INVALID_PATH, f"invalid path {path!r}", path=None)
        candidate = path.replace("\\", "/")
        if candidate.startswith("/"):
            if candidate != ROOT and not candidate.startswith(f"{ROOT}/"):
                raise FileSystemError(
                    ErrorCode.OUTSIDE_WORKSPACE, f"{path} is outside the workspace", path=path
                )
            candidate = candidate[len(ROOT) :]
        relative = posixpath.normpath(candidate.lstrip("/") or ".")
        if relative == ".." or relative.startswith("../"):
            raise FileSystemError(
                ErrorCode.OUTSIDE_WORKSPACE, f"{path} is outside the workspace", path=path
            )
        return "" if relative == "." else relative

    def _tick(self) -> float:
        self._ticks += 1.0
        return 1_700_000_000.0 + self._ticks
