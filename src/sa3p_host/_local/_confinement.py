"""Confinement: turning a path the model wrote into a real path inside the workspace.

Every path goes through ``Confinement.resolve``: NUL bytes are rejected, a relative path is
joined to the root, and the result is resolved the way the kernel would (``os.path.realpath``:
symlinks followed at every depth of the existing prefix, a dangling symlink followed to where it
points, ``..`` applied after the symlink before it). Only a result at or below the root is
accepted, so nothing outside is ever opened, read or changed through this object.

What remains is a race (a component swapped for a symlink between ``resolve`` and use). Reads
open the final component with ``O_NOFOLLOW`` and writes re-check the parent directory at commit;
a concurrent attacker inside the workspace who swaps an intermediate directory is out of scope
(documented in the README's security notes).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from sa3p_engine import ErrorCode, FileSystemError

__all__ = ["Confinement", "ResolvedPath", "error_from_os"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedPath:
    """A path known to lie inside the workspace.

    Attributes:
        real: the absolute, symlink-free path on this machine.
        relative: the same path relative to the root, ``/``-separated (``""`` for the root).
        requested: what the caller asked for, for error messages.
    """

    real: str
    relative: str
    requested: str

    @property
    def shown(self) -> str:
        """The path as messages show it: relative, or ``.`` for the root."""
        return self.relative or "."


class Confinement:
    """Resolves paths against one workspace root and refuses everything outside it.

    Args:
        root: the workspace directory; it must exist.

    Raises:
        FileSystemError: NOT_FOUND or NOT_A_DIRECTORY when ``root`` is not a directory.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        real_root = os.path.realpath(os.fspath(root))
        if not os.path.isdir(real_root):
            raise FileSystemError(
                ErrorCode.NOT_A_DIRECTORY if os.path.exists(real_root) else ErrorCode.NOT_FOUND,
                f"workspace root {os.fspath(root)!r} is not a directory",
                path=os.fspath(root),
            )
        self.root = real_root
        self._prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep

    def resolve(self, path: str) -> ResolvedPath:
        """Resolve ``path`` (relative to the root, or absolute) to a path inside the root.

        Raises:
            FileSystemError: INVALID_PATH for NUL bytes or a non-string; OUTSIDE_WORKSPACE when
                the path, once symlinks and ``..`` are resolved, leaves the root.
        """
        if not isinstance(path, str):
            raise FileSystemError(ErrorCode.INVALID_PATH, f"path must be text, not {path!r}")
        if "\0" in path:
            raise FileSystemError(
                ErrorCode.INVALID_PATH, f"path {path!r} contains a NUL byte", path=path
            )
        real = os.path.realpath(os.path.join(self.root, path))
        relative = self.relative_of(real)
        if relative is None:
            raise FileSystemError(
                ErrorCode.OUTSIDE_WORKSPACE,
                f"path {path!r} resolves to {real!r}, outside the workspace {self.root!r}",
                path=path,
            )
        return ResolvedPath(real=real, relative=relative, requested=path)

    def relative_of(self, real: str) -> str | None:
        """``real`` relative to the root (``/``-separated), or None when it is outside."""
        if real == self.root:
            return ""
        if not real.startswith(self._prefix):
            return None
        relative = real[len(self._prefix) :]
        return relative if os.sep == "/" else relative.replace(os.sep, "/")

    def check_still_inside(self, resolved: ResolvedPath) -> None:
        """Re-resolve ``resolved`` and fail if it moved (a symlink swapped in meanwhile).

        Raises:
            FileSystemError: OUTSIDE_WORKSPACE when the path no longer resolves to itself.
        """
        if os.path.realpath(resolved.real) != resolved.real:
            raise FileSystemError(
                ErrorCode.OUTSIDE_WORKSPACE,
                f"path {resolved.requested!r} changed while in use (a symlink appeared)",
                path=resolved.requested,
            )


_ERRNO_CODES = {
    errno.ENOENT: ErrorCode.NOT_FOUND,
    errno.EACCES: ErrorCode.PERMISSION_DENIED,
    errno.EPERM: ErrorCode.PERMISSION_DENIED,
    errno.EROFS: ErrorCode.PERMISSION_DENIED,
    errno.EISDIR: ErrorCode.IS_A_DIRECTORY,
    errno.ENOTDIR: ErrorCode.NOT_A_DIRECTORY,
    errno.ELOOP: ErrorCode.INVALID_PATH,
    errno.ENAMETOOLONG: ErrorCode.INVALID_PATH,
    errno.EFBIG: ErrorCode.TOO_LARGE,
}

_REASONS = {
    ErrorCode.NOT_FOUND: "no such file or directory",
    ErrorCode.PERMISSION_DENIED: "permission denied",
    ErrorCode.IS_A_DIRECTORY: "it is a directory",
    ErrorCode.NOT_A_DIRECTORY: "it (or one of its parents) is not a directory",
    ErrorCode.INVALID_PATH: "not a usable path (symlink loop, or a name too long)",
    ErrorCode.TOO_LARGE: "file too large",
}


def error_from_os(exc: OSError, path: str, action: str) -> FileSystemError:
    """Turn an ``OSError`` into a ``FileSystemError`` naming the path and what was attempted."""
    code = _ERRNO_CODES.get(exc.errno or 0, ErrorCode.IO_ERROR)
    reason = _REASONS.get(code) or (exc.strerror or str(exc))
    return FileSystemError(code, f"cannot {action} {path!r}: {reason}", path=path)
