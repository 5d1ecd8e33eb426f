"""Where a write's bytes wait until commit: an unnamed file, or the workspace's staging folder.

Preferred: ``O_TMPFILE`` in the target's directory, a file without a name, which vanishes with
the process whatever kills it. At commit it is named with ``linkat`` (of ``/proc/self/fd/N``,
``AT_SYMLINK_FOLLOW``): straight at the target when there is none (``linkat`` never replaces,
so that is an atomic create), otherwise under a temporary name in the staging folder and then
``renameat`` over the target (only a rename replaces atomically).

Fallback, where ``O_TMPFILE`` or ``/proc`` is missing (some network and FUSE filesystems): a
named file in the staging folder from the start, renamed over the target at commit.

The staging folder is ``.sa3p-writes`` at the workspace root (the root's filesystem, so the
rename is atomic). It exists only while something is staged in it: made on need, with a
``.gitignore`` of ``*`` (git ignores it, as it does ``.pytest_cache``), and removed again by
the writer that leaves it empty. That ``.gitignore``, with exactly our content, is what makes
the folder ours: a folder of that name without it is the user's and is never used, hidden or
emptied, and only names ``<32 hex digits>.tmp`` in ours are ever removed.

Locks (``flock``): a writer holds its staged file's lock from before the file has a name in
the folder until the file is renamed away or discarded, and the folder's shared lock while it
adds a name; removing the folder takes the folder's exclusive lock. ``sweep`` (at each start)
takes the exclusive lock too and removes every staged file whose lock nobody holds (a dead
writer's leftover), then the folder if that left it empty. Where ``flock`` is unsupported, a
staged file older than ``stale_age`` counts as a leftover.

Limit: a target on another filesystem than the root (a mount inside the workspace) cannot be
renamed from the staging folder. There the temporary name is ``.sa3p-<32 hex>.tmp`` beside the
target, visible (never hidden): for the microseconds between link and rename with
``O_TMPFILE``, for the whole write without it; a crash in that window leaves it, visible.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from dataclasses import dataclass

from sa3p_host._local._confinement import O_CLOEXEC, O_NOFOLLOW, Confinement
from sa3p_host._local._regular_files import READ_FLAGS, read_capped

__all__ = ["STAGING_NAME", "StagedFile", "Staging"]

STAGING_NAME = ".sa3p-writes"
_MARKER_NAME = ".gitignore"
_MARKER = (
    b"# Made by sa3p: the bytes of writes in progress wait here.\n"
    b"# Safe to delete while no sa3p process works in this folder.\n"
    b"*\n"
)
_STAGED = re.compile(r"\A[0-9a-f]{32}\.tmp\Z")
_BESIDE_PREFIX = ".sa3p-"
_NO_UNNAMED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP}
_O_TMPFILE: int | None = getattr(os, "O_TMPFILE", None)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_CLOEXEC | O_NOFOLLOW
_MARKER_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | O_CLOEXEC | O_NOFOLLOW
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | O_NOFOLLOW | O_CLOEXEC
_ATTEMPTS = 3


@dataclass(slots=True)
class StagedFile:
    """A write's file before commit (mutable: it gets a name, then becomes the target).

    Attributes:
        fd: open for writing.
        directory: a descriptor (owned) of the directory holding ``name``; None while unnamed.
        name: its temporary name, or None (unnamed ``O_TMPFILE``, or already renamed away).
        in_folder: ``directory`` is the staging folder (not the target's own directory).
    """

    fd: int
    directory: int | None = None
    name: str | None = None
    in_folder: bool = False


class Staging:
    """The staging of one workspace's writes (see the module notes).

    Args:
        confinement: the workspace root.
        stale_age: where ``flock`` is unsupported, staged files older than this many seconds
            count as leftovers.
    """

    def __init__(self, confinement: Confinement, *, stale_age: float = 3600.0) -> None:
        self._confinement = confinement  # keeps the root's descriptor open while we use it
        self._root_fd = confinement.root_fd
        self._stale_age = stale_age
        self.use_unnamed_files = _O_TMPFILE is not None and os.path.isdir("/proc/self/fd")

    def sweep(self) -> int:
        """Remove the staged files of writers that are gone, then the folder if it is empty;
        return how many files were removed."""
        folder = self._open_folder(create=False)
        if folder is None:
            return 0
        removed = 0
        try:
            _lock(folder, fcntl.LOCK_EX)
            for entry in os.scandir(folder):
                if _STAGED.match(entry.name) and self._remove_if_abandoned(folder, entry.name):
                    removed += 1
            self._remove_folder_if_empty(folder)
        except OSError:
            pass  # a folder we cannot read: leave it for a later start
        finally:
            os.close(folder)
        return removed

    @staticmethod
    def is_staging_folder(root: int, name: str) -> bool:
        """Whether entry ``name`` of the root (``root``: a descriptor of it) is our staging
        folder, which listings leave out."""
        if name != STAGING_NAME:
            return False
        try:
            folder = os.open(name, _FOLDER_FLAGS, dir_fd=root)
        except OSError:
            return False
        try:
            return _marked(folder)
        finally:
            os.close(folder)

    def create(self, directory: int) -> StagedFile:
        """A new file to write, on the filesystem of ``directory`` (the target's).

        Raises:
            OSError: the filesystem refused.
        """
        if self.use_unnamed_files and _O_TMPFILE is not None:
            try:
                flags = _O_TMPFILE | os.O_WRONLY | O_CLOEXEC
                return StagedFile(os.open(".", flags, 0o600, dir_fd=directory))
            except OSError as exc:
                if exc.errno not in _NO_UNNAMED:
                    raise
        folder, in_folder = self._enter_folder_for(directory)
        try:
            name, fd = _create_named(folder, "" if in_folder else _BESIDE_PREFIX)
            _hold(fd)
        except BaseException:
            os.close(folder)  # which releases its lock
            raise
        _unlock(folder)
        return StagedFile(fd, folder, name, in_folder)

    def commit(self, staged: StagedFile, directory: int, name: str, *, replace: bool) -> bool:
        """Give ``staged``'s content the name ``name`` in ``directory``; True if it replaced a
        file there (``replace``: whether the caller found one).

        Raises:
            OSError: the filesystem refused (``staged`` keeps any temporary name: discard it).
        """
        if staged.name is None and not replace:
            try:
                os.link(_proc_path(staged.fd), name, dst_dir_fd=directory)
                return False
            except FileExistsError:
                replace = True  # a file appeared meanwhile: replace it
        if staged.name is None:
            self._name_unnamed(staged, directory)
        assert staged.name is not None and staged.directory is not None
        os.rename(staged.name, name, src_dir_fd=staged.directory, dst_dir_fd=directory)
        staged.name = None
        if staged.in_folder:
            self._tidy(staged.directory)
        return replace

    def discard(self, staged: StagedFile) -> None:
        """Remove ``staged``'s temporary name (if any) and close it. Idempotent."""
        if staged.name is not None and staged.directory is not None:
            with contextlib.suppress(OSError):
                os.unlink(staged.name, dir_fd=staged.directory)
            staged.name = None
            if staged.in_folder:
                self._tidy(staged.directory)
        for fd in (staged.directory, staged.fd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        staged.directory, staged.fd = None, -1

    def _name_unnamed(self, staged: StagedFile, directory: int) -> None:
        folder, in_folder = self._enter_folder_for(directory)
        _hold(staged.fd)  # before it has a name the sweep could see
        try:
            while True:
                name = f"{'' if in_folder else _BESIDE_PREFIX}{os.urandom(16).hex()}.tmp"
                with contextlib.suppress(FileExistsError):
                    os.link(_proc_path(staged.fd), name, dst_dir_fd=folder)
                    break
        except BaseException:
            os.close(folder)  # which releases its lock
            raise
        _unlock(folder)
        staged.directory, staged.name, staged.in_folder = folder, name, in_folder

    def _enter_folder_for(self, directory: int) -> tuple[int, bool]:
        """Where to name a staged file for ``directory``: (a descriptor, owned, holding the
        folder's shared lock when it is the staging folder; whether it is)."""
        for _ in range(_ATTEMPTS):
            folder = self._open_folder(create=True)
            if folder is None:
                break
            if os.fstat(folder).st_dev != os.fstat(directory).st_dev:
                os.close(folder)
                break
            _lock(folder, fcntl.LOCK_SH)
            if os.fstat(folder).st_nlink > 0 and _marked(folder):
                return folder, True
            os.close(folder)  # removed (or unmarked) while we waited for the lock: again
        return os.open(".", _FOLDER_FLAGS, dir_fd=directory), False

    def _open_folder(self, *, create: bool) -> int | None:
        """Our staging folder, open for reading (made if ``create``); None if absent or not ours."""
        for _ in range(_ATTEMPTS):
            try:
                folder = os.open(STAGING_NAME, _FOLDER_FLAGS, dir_fd=self._root_fd)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(STAGING_NAME, 0o700, dir_fd=self._root_fd)
                except FileExistsError:
                    pass  # made concurrently: open it
                except OSError:
                    return None
                continue
            except OSError:
                return None  # a file, a symlink, or unreadable: not ours to use
            if _claim(folder):
                return folder
            removed = os.fstat(folder).st_nlink == 0  # a writer tidied it away meanwhile
            os.close(folder)
            if not removed:
                return None
        return None

    def _tidy(self, folder: int) -> None:
        """Remove the staging folder if it is empty. The exclusive lock waits for writers
        adding a name (each holds the shared lock only for that) and for other tidiers."""
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
        except OSError:
            return  # no flock here: a later start's sweep removes the folder
        try:
            self._remove_folder_if_empty(folder)
        finally:
            _unlock(folder)

    def _remove_folder_if_empty(self, folder: int) -> None:
        """With the folder's exclusive lock held: remove it if only its marker is left."""
        with contextlib.suppress(OSError):
            if [entry.name for entry in os.scandir(folder)] != [_MARKER_NAME]:
                return
            here = os.fstat(folder)
            named = os.stat(STAGING_NAME, dir_fd=self._root_fd, follow_symlinks=False)
            if (named.st_dev, named.st_ino) != (here.st_dev, here.st_ino):
                return
            os.unlink(_MARKER_NAME, dir_fd=folder)
            os.rmdir(STAGING_NAME, dir_fd=self._root_fd)

    def _remove_if_abandoned(self, folder: int, name: str) -> bool:
        try:
            fd = os.open(name, READ_FLAGS, dir_fd=folder)
        except OSError:
            return False
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or not self._abandoned(fd, info):
                return False
            current = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if (current.st_dev, current.st_ino) != (info.st_dev, info.st_ino):
                return False
            os.unlink(name, dir_fd=folder)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def _abandoned(self, fd: int, info: os.stat_result) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        except OSError:
            return time.time() - info.st_mtime > self._stale_age  # no flock here: by age
        return True


def _marked(folder: int) -> bool:
    return read_capped(_MARKER_NAME, 4096, directory=folder) == _MARKER


def _claim(folder: int) -> bool:
    """Whether ``folder`` is our staging folder. One holding nothing, or nothing but a part of
    our marker (a writer died while making it), is made ours."""
    content = read_capped(_MARKER_NAME, 4096, directory=folder)
    if content == _MARKER:
        return True
    names = [entry.name for entry in os.scandir(folder)]
    unfinished = content is not None and _MARKER.startswith(content) and names == [_MARKER_NAME]
    if names and not unfinished:
        return False
    try:
        fd = os.open(_MARKER_NAME, _MARKER_FLAGS, 0o644, dir_fd=folder)
    except OSError:
        return _marked(folder)  # another writer marks it now (or we may not): look again
    try:
        os.write(fd, _MARKER)
    finally:
        os.close(fd)
    return True


def _create_named(folder: int, prefix: str) -> tuple[str, int]:
    while True:
        name = f"{prefix}{os.urandom(16).hex()}.tmp"
        try:
            return name, os.open(name, _NEW_FILE, 0o600, dir_fd=folder)
        except FileExistsError:
            continue


def _hold(fd: int) -> None:
    """Lock a staged file for as long as ``fd`` is open (where the filesystem has ``flock``)."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock(fd: int, operation: int) -> None:
    with contextlib.suppress(OSError):  # no flock on this filesystem: sweeps go by age
        fcntl.flock(fd, operation)


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)


def _proc_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"
