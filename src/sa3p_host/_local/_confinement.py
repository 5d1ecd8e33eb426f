"""Confinement: resolving the model's paths beneath a descriptor of the workspace root.

The root is opened once (``O_PATH``). Every path is resolved relative to that descriptor, and
callers act on the descriptors the resolution returns (``dir_fd=`` calls), never on a path
string again: a directory swapped for a symlink between a check and a use cannot redirect
anything, because no check is separate from its use.

Rules (see ``docs/THREAT_MODEL_LOCAL.md``):

- a NUL byte is INVALID_PATH; an absolute path must lie under the root (its real path, or the
  path it was given as) and is made relative; any other absolute path is OUTSIDE_WORKSPACE;
- ``""`` and ``.`` are skipped; ``..`` goes to the parent of the directory actually reached
  (after a symlink, as the kernel does); ``..`` at the root is OUTSIDE_WORKSPACE;
- a symlink is followed *beneath the root* only: a relative target continues from the link's
  directory, an absolute target must name a place under the root (it continues from the root);
  a target leaving the root is OUTSIDE_WORKSPACE, more than 40 links in one resolution is
  INVALID_PATH (``ELOOP``);
- fast path: ``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` resolves a path without any
  symlink in one call, the kernel refusing every escape. A symlink on the way (``ELOOP``), a
  concurrent rename (``EAGAIN``) or a kernel without ``openat2`` falls back to the component
  walk: ``openat(O_PATH | O_DIRECTORY | O_NOFOLLOW)`` per directory, ``readlinkat`` for links.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import posixpath
import stat
import weakref
from dataclasses import dataclass, field
from typing import Self

from sa3p_engine import ErrorCode, FileSystemError
from sa3p_host._local._linux_calls import (
    RESOLVE_BENEATH,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    Openat2Unavailable,
    openat2,
)

__all__ = [
    "Confinement",
    "CreatedDirectory",
    "Missing",
    "Opened",
    "Place",
    "ResolvedPath",
    "error_from_os",
]

O_PATH: int = getattr(os, "O_PATH", os.O_RDONLY)
O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_STEP_FLAGS = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
_FAST_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
_MAX_LINKS = 40  # Linux's MAXSYMLINKS
_ATTEMPTS = 3  # resolutions retried when a name changes kind between two system calls


class Missing(enum.Enum):
    """What a resolution does with a directory on the way that does not exist."""

    FAIL = "fail"  # NOT_FOUND
    ALLOW = "allow"  # the rest is taken lexically (``ResolvedPath`` only: nothing is opened)
    CREATE = "create"  # made (``mkdir``; made concurrently by another is fine)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedPath:
    """A path beneath the root, named as the model should see it.

    Attributes:
        relative: ``/``-separated, relative to the root, symlinks resolved (``""``: the root).
        requested: what the caller asked for, for error messages.
    """

    relative: str
    requested: str

    @property
    def shown(self) -> str:
        """The path as messages show it: relative, or ``.`` for the root."""
        return self.relative or "."


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedDirectory:
    """A directory a resolution made, and its identity (removed on abort only if unchanged).

    Attributes:
        relative: where it was made, relative to the root.
        identity: its ``(st_dev, st_ino)`` when made.
    """

    relative: str
    identity: tuple[int, int]


class _ClosedOnExit:
    """A value owning one descriptor, closed when its ``with`` block ends."""

    __slots__ = ()

    def _descriptor(self) -> int:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.close(self._descriptor())


@dataclass(frozen=True, slots=True, kw_only=True)
class Place(_ClosedOnExit):
    """A name in a directory beneath the root; owns ``directory`` (a context manager closes it).

    Attributes:
        directory: an ``O_PATH`` descriptor of the directory holding ``name``.
        name: one path component, or ``""`` when the place is ``directory`` itself.
        path: the resolved path and what was asked for.
        created: directories the resolution made on the way, outermost first.
    """

    directory: int
    name: str
    path: ResolvedPath
    created: tuple[CreatedDirectory, ...] = ()

    def _descriptor(self) -> int:
        return self.directory


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened(_ClosedOnExit):
    """An open descriptor of a path beneath the root and its ``fstat``; a context manager."""

    fd: int
    path: ResolvedPath
    info: os.stat_result

    def _descriptor(self) -> int:
        return self.fd


@dataclass(slots=True)
class _Walk:
    """One component walk in progress: the directories entered below the root (mutable)."""

    root_fd: int
    requested: str
    action: str
    entered: list[tuple[str, int]] = field(default_factory=list)  # (name, O_PATH descriptor)
    links: int = 0
    created: list[CreatedDirectory] = field(default_factory=list)

    @property
    def fd(self) -> int:
        return self.entered[-1][1] if self.entered else self.root_fd

    def relative(self, *more: str) -> str:
        return "/".join([name for name, _ in self.entered] + [m for m in more if m])

    def up(self) -> None:
        if not self.entered:
            raise _outside(self.requested, "'..' leads above the workspace root")
        os.close(self.entered.pop()[1])

    def to_root(self) -> None:
        while self.entered:
            os.close(self.entered.pop()[1])

    def take_directory(self) -> int:
        """The current directory's descriptor, now the caller's; the others are closed."""
        if not self.entered:
            return os.dup(self.root_fd)
        fd = self.entered.pop()[1]
        self.to_root()
        return fd


class Confinement:
    """Resolves paths beneath one workspace root and refuses everything outside it.

    Args:
        root: the workspace directory; it must exist (a symlink to it is fine).

    Raises:
        FileSystemError: NOT_FOUND or NOT_A_DIRECTORY when ``root`` is not a directory.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        given = os.path.abspath(os.fspath(root))
        try:
            self.root_fd = os.open(given, O_PATH | O_DIRECTORY | O_CLOEXEC)
        except OSError as exc:
            code = ErrorCode.NOT_FOUND if exc.errno == errno.ENOENT else ErrorCode.NOT_A_DIRECTORY
            raise FileSystemError(
                code, f"workspace root {os.fspath(root)!r} is not a directory", path=given
            ) from exc
        weakref.finalize(self, os.close, self.root_fd)
        self.root = os.path.realpath(given)
        self._prefixes = tuple(dict.fromkeys((self.root, given)))

    # -- the three ways to use a path ----------------------------------------------------------

    def resolve(
        self, path: str, *, follow_final: bool = True, action: str = "resolve"
    ) -> ResolvedPath:
        """The name ``path`` resolves to (symlinks followed beneath the root; the last one
        only if ``follow_final``); missing directories on the way are allowed (what follows
        them is taken lexically).

        Raises:
            FileSystemError: INVALID_PATH, OUTSIDE_WORKSPACE, NOT_A_DIRECTORY.
        """
        walk, final, rest = self._walk(
            path, action, follow_final=follow_final, missing=Missing.ALLOW
        )
        try:
            return ResolvedPath(relative=walk.relative(final, *rest), requested=path)
        finally:
            walk.to_root()

    def locate(
        self,
        path: str,
        *,
        missing: Missing = Missing.FAIL,
        follow_final: bool = True,
        action: str = "find",
    ) -> Place:
        """The directory holding ``path``'s last component, open, and that component.

        Args:
            path: as the model wrote it, or a ``ResolvedPath.relative``.
            missing: FAIL or CREATE for missing directories on the way.
            follow_final: follow a symlink in the last component (beneath the root); False
                names the link itself.
            action: what the caller does, for error messages ("write", "remove", …).

        Raises:
            FileSystemError: INVALID_PATH, OUTSIDE_WORKSPACE, NOT_FOUND, NOT_A_DIRECTORY.
        """
        place = self._locate_fast(path, missing, follow_final, action)
        if place is not None:
            return place
        walk, final, _ = self._walk(path, action, follow_final=follow_final, missing=missing)
        relative = walk.relative(final)
        created = tuple(walk.created)
        return Place(
            directory=walk.take_directory(),
            name=final,
            path=ResolvedPath(relative=relative, requested=path),
            created=created,
        )

    def open(self, path: str, flags: int, *, action: str = "open") -> Opened:
        """Open ``path`` (symlinks followed beneath the root) with ``flags`` (+ ``O_NOFOLLOW``
        on the last component, whose links the resolution already followed).

        Raises:
            FileSystemError: the resolution's errors and the open's (NOT_FOUND, …).
        """
        relative = self._relative_request(path)
        if _climbs(relative):
            return self._open_walking(path, flags, action)  # only a walk can tell (links)
        try:
            fd = openat2(self.root_fd, relative or ".", _final_flags(flags), _FAST_RESOLVE)
        except Openat2Unavailable:
            pass
        except OSError as exc:
            # ELOOP: a symlink on the way; ENOTDIR: perhaps one where O_DIRECTORY was asked;
            # EAGAIN: a concurrent rename. The walk follows links beneath the root, or says why.
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EAGAIN, errno.EXDEV):
                raise error_from_os(exc, path, action) from exc
            if exc.errno == errno.EXDEV:
                raise _outside(path, "it leads outside the workspace") from exc
        else:
            opened = _opened(fd, ResolvedPath(relative=_lexical(relative), requested=path))
            if opened is not None:
                return opened
        return self._open_walking(path, flags, action)

    # -- internals -----------------------------------------------------------------------------

    def _open_walking(self, path: str, flags: int, action: str) -> Opened:
        for _ in range(_ATTEMPTS):
            with self.locate(path, action=action) as place:
                try:
                    fd = os.open(place.name or ".", _final_flags(flags), dir_fd=place.directory)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        continue  # the name became a symlink since it was resolved: again
                    raise error_from_os(exc, path, action) from exc
                opened = _opened(fd, place.path)
                if opened is not None:
                    return opened
        raise FileSystemError(
            ErrorCode.INVALID_PATH,
            f"cannot {action} {path!r}: it kept changing into a symlink while being opened",
            path=path,
        )

    def _locate_fast(
        self, path: str, missing: Missing, follow_final: bool, action: str
    ) -> Place | None:
        """``locate`` in one ``openat2`` when no symlink is on the way; None: walk instead."""
        relative = self._relative_request(path)
        parent, _, name = relative.rpartition("/")
        if name in ("", ".", "..") or _climbs(relative):
            return None  # a directory, or '..' above the root: the walk sorts out which
        try:
            directory = openat2(self.root_fd, parent or ".", _STEP_FLAGS, _FAST_RESOLVE)
        except Openat2Unavailable:
            return None
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise _outside(path, "it leads outside the workspace") from exc
            if exc.errno == errno.ENOENT and missing is Missing.FAIL:
                raise error_from_os(exc, path, action) from exc
            return None  # ELOOP, EAGAIN, ENOENT to create, ENOTDIR: the walk says precisely
        if follow_final:
            try:
                is_link = stat.S_ISLNK(
                    os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode
                )
            except FileNotFoundError:
                is_link = False
            except OSError as exc:
                os.close(directory)
                raise error_from_os(exc, path, action) from exc
            if is_link:
                os.close(directory)
                return None
        resolved = ResolvedPath(relative=_lexical(relative), requested=path)
        return Place(directory=directory, name=name, path=resolved)

    def _relative_request(self, path: str) -> str:
        if not isinstance(path, str):
            raise FileSystemError(ErrorCode.INVALID_PATH, f"path must be text, not {path!r}")
        if "\0" in path:
            raise FileSystemError(
                ErrorCode.INVALID_PATH, f"path {path!r} contains a NUL byte", path=path
            )
        if not path.startswith("/"):
            return path
        relative = self._under_root(path)
        if relative is None:
            raise _outside(path, f"it is not under the workspace root {self.root!r}")
        return relative

    def _under_root(self, absolute: str) -> str | None:
        for prefix in self._prefixes:
            if prefix == "/":
                return absolute.lstrip("/")
            if absolute == prefix:
                return ""
            if absolute.startswith(prefix + "/"):
                return absolute[len(prefix) + 1 :]
        return None

    def _walk(
        self, path: str, action: str, *, follow_final: bool, missing: Missing
    ) -> tuple[_Walk, str, list[str]]:
        """Walk ``path``: (the walk, its last component or ``""``, the lexical rest (ALLOW))."""
        pending = list(reversed(self._relative_request(path).split("/")))
        walk = _Walk(self.root_fd, path, action)
        try:
            while pending:
                part = pending.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    walk.up()
                    continue
                if not pending:  # the last component
                    target = self._final_link(walk, part) if follow_final else None
                    if target is None:
                        return walk, part, []
                else:
                    target, rest = self._enter(walk, part, pending, missing)
                    if rest is not None:
                        return walk, "", rest
                if target is not None:
                    self._expand(walk, part, target, pending)
            return walk, "", []
        except BaseException:
            walk.to_root()
            raise

    def _enter(
        self, walk: _Walk, name: str, pending: list[str], missing: Missing
    ) -> tuple[str | None, list[str] | None]:
        """Enter directory ``name``: (its link target if it is a symlink, the lexical rest
        when it is missing and ``missing`` is ALLOW: see ``_below_missing``)."""
        for _ in range(_ATTEMPTS):
            try:
                walk.entered.append((name, os.open(name, _STEP_FLAGS, dir_fd=walk.fd)))
                return None, None
            except FileNotFoundError as exc:
                if missing is Missing.CREATE and ".." not in pending:
                    self._make_directory(walk, name)
                    continue
                if missing is Missing.ALLOW:
                    return None, _below_missing(name, pending)
                if _lexical_rest(name, pending).count("..") > len(walk.entered):
                    raise _outside(walk.requested, "'..' leads above the workspace root") from exc
                raise error_from_os(exc, walk.requested, walk.action) from exc
            except OSError as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise error_from_os(exc, walk.requested, walk.action) from exc
                try:
                    return os.readlink(name, dir_fd=walk.fd), None
                except FileNotFoundError:
                    continue  # it vanished meanwhile: look again
                except OSError as inner:
                    if inner.errno == errno.EINVAL:  # not a symlink: a file on the way
                        raise error_from_os(exc, walk.requested, walk.action) from inner
                    raise error_from_os(inner, walk.requested, walk.action) from inner
        raise FileSystemError(
            ErrorCode.IO_ERROR,
            f"cannot {walk.action} {walk.requested!r}: {walk.relative(name)!r} kept changing",
            path=walk.requested,
        )

    @staticmethod
    def _make_directory(walk: _Walk, name: str) -> None:
        try:
            os.mkdir(name, 0o777, dir_fd=walk.fd)
        except FileExistsError:
            return  # made concurrently by another writer (or a file: the next open says so)
        except OSError as exc:
            raise error_from_os(exc, walk.requested, walk.action) from exc
        with contextlib.suppress(OSError):
            info = os.stat(name, dir_fd=walk.fd, follow_symlinks=False)
            identity = (info.st_dev, info.st_ino)
            walk.created.append(CreatedDirectory(relative=walk.relative(name), identity=identity))

    @staticmethod
    def _final_link(walk: _Walk, name: str) -> str | None:
        """The target of ``name`` if it is a symlink (None: not a link, or missing)."""
        try:
            return os.readlink(name, dir_fd=walk.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return None
            raise error_from_os(exc, walk.requested, walk.action) from exc

    def _expand(self, walk: _Walk, link: str, target: str, pending: list[str]) -> None:
        """Continue the walk through the symlink ``link`` → ``target`` (beneath the root)."""
        walk.links += 1
        if walk.links > _MAX_LINKS:
            raise error_from_os(OSError(errno.ELOOP, "loop"), walk.requested, walk.action)
        if target.startswith("/"):
            inside = self._under_root(target)
            if inside is None:
                raise _outside(
                    walk.requested, f"the symlink {walk.relative(link)!r} points to {target!r}"
                )
            walk.to_root()
            target = inside
        pending.extend(reversed(target.split("/")))


def _final_flags(flags: int) -> int:
    # With O_PATH, O_NOFOLLOW opens a trailing symlink itself instead of failing: ``_opened``
    # sees the link and the caller resolves again.
    return flags | O_CLOEXEC | O_NOFOLLOW


def _opened(fd: int, path: ResolvedPath) -> Opened | None:
    """``fd`` with its ``fstat``; None (closed) when it is a symlink opened with ``O_PATH``."""
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if stat.S_ISLNK(info.st_mode):
        os.close(fd)
        return None
    return Opened(fd=fd, path=path, info=info)


def _lexical(relative: str) -> str:
    """A relative path without symlinks, normalised: what the kernel resolved it to."""
    normal = posixpath.normpath(relative) if relative else "."
    return "" if normal == "." else normal


def _below_missing(name: str, pending: list[str]) -> list[str] | None:
    """Consume the components below missing directory ``name``: their names (none of them
    exists), or None when a ``..`` leads back out of it, the rest being left in ``pending``
    for the walk to go on with (``missing/../x`` names ``x``, whatever ``x`` is)."""
    names = [name]
    while pending:
        part = pending.pop()
        if part == "..":
            names.pop()
            if not names:
                return None
        elif part not in ("", "."):
            names.append(part)
    return names


def _climbs(relative: str) -> bool:
    """Whether ``relative``, taken lexically, goes above where it starts (``a/../..``)."""
    return ".." in relative and _lexical(relative).split("/", 1)[0] == ".."


def _lexical_rest(name: str, pending: list[str]) -> list[str]:
    """``name`` and the components still pending, normalised (nothing there exists)."""
    rest = _lexical("/".join([name, *reversed(pending)]))
    return rest.split("/") if rest else []


def _outside(path: str, why: str) -> FileSystemError:
    return FileSystemError(
        ErrorCode.OUTSIDE_WORKSPACE, f"path {path!r} is outside the workspace: {why}", path=path
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
    errno.EXDEV: ErrorCode.OUTSIDE_WORKSPACE,
}

_REASONS = {
    ErrorCode.NOT_FOUND: "no such file or directory",
    ErrorCode.PERMISSION_DENIED: "permission denied",
    ErrorCode.IS_A_DIRECTORY: "it is a directory",
    ErrorCode.NOT_A_DIRECTORY: "it (or one of its parents) is not a directory",
    ErrorCode.INVALID_PATH: "not a usable path (symlink loop, or a name too long)",
    ErrorCode.TOO_LARGE: "file too large",
    ErrorCode.OUTSIDE_WORKSPACE: "it leads outside the workspace",
}


def error_from_os(exc: OSError, path: str, action: str) -> FileSystemError:
    """Turn an ``OSError`` into a ``FileSystemError`` naming the path and what was attempted."""
    code = _ERRNO_CODES.get(exc.errno or 0, ErrorCode.IO_ERROR)
    reason = _REASONS.get(code) or (exc.strerror or str(exc))
    return FileSystemError(code, f"cannot {action} {path!r}: {reason}", path=path)
