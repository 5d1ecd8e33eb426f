"""The workspace as checkpoints see it: a stat walk over the files git sees, inotify watches
that name what changed, the tree both keep up to date, and files written back into it.

The walk keeps the files a listing lists, decided by the same code (``_git_listing.GitView``:
git's ignore rules, tracked files, nested repositories, the staging folder left out), regular
files and symlinks only, each with its stat key ``(st_mode, st_size, st_mtime_ns, st_ino,
st_ctime_ns)``: as in git's index, a file whose key is unchanged is not read again. Git's
metadata is read as listings read it (``read_git_meta``, ``read_capped``): regular files only,
never through a symlink, capped; a FIFO or a link to ``/dev/zero`` counts as absent.

Every directory is opened beneath the workspace root's descriptor (``Confinement``) through no
symlink at all (``openat2`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS``, else one
``O_NOFOLLOW`` component at a time) and checked to be the inode its parent listed; files are
read through their directory's descriptor. So a directory swapped for a symlink mid-walk never
leads the walk (or the copies it makes) outside the workspace, and a mount point inside the
workspace fails the check and is not entered. ``_git_listing`` (and pathspec) are imported only
when the workspace has an ignore file: a run in a plain directory loads neither.

Racy entries (git's "racily clean" problem): a file changed again within the clock's
granularity of being scanned can keep its key. So an entry whose ctime is within
``RACY_MARGIN_NS`` of the scan's start is stored smudged (its mtime set to -1), and the next
scan reads it again.

A ``WorkspaceWatch`` puts an inotify watch on each directory the walk enters (on the descriptor
it opened, before listing it, so nothing made meanwhile is missed) and on the git index; kept
from one turn to the next, its events name every file that may have changed since they were
last read, so only those are examined. It gives up (the caller then walks everything, with a
new watch) on what it cannot attribute exactly: a queue overflow, a directory moved, a
``.gitignore`` changed, a directory reached twice (a bind mount), a watch it could not add.
Writes through ``mmap`` and changes made through a hard link from outside the workspace raise
no event: they are seen at the next walk.

``TreeTracker`` keeps a ``Tree`` in step with the workspace using both, and notes what each
path was before it changed. ``write_back`` and ``remove_file`` change the workspace through
directories opened one ``O_NOFOLLOW`` component at a time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import stat
import struct
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sa3p_engine import FileSystemError
from sa3p_host._local._atomic_writes import _write_all
from sa3p_host._local._confinement import O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, Confinement
from sa3p_host._local._git_metadata import GitMeta, open_git_directory, read_git_meta
from sa3p_host._local._linux_calls import (
    RESOLVE_BENEATH,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    Openat2Unavailable,
    openat2,
)
from sa3p_host._local._write_staging import Staging

if TYPE_CHECKING:
    from sa3p_host._local._git_listing import EntryRules, GitScope, GitView

__all__ = [
    "RACY_MARGIN_NS",
    "Directory",
    "DirectoryView",
    "Entry",
    "Keep",
    "StatKey",
    "Tree",
    "TreeTracker",
    "Walker",
    "WatchedChanges",
    "WorkspaceWatch",
    "open_directory",
    "open_workspace",
    "remove_file",
    "stat_key",
    "write_back",
]

StatKey = tuple[int, int, int, int, int]
"""``(st_mode, st_size, st_mtime_ns, st_ino, st_ctime_ns)`` of a file or symlink."""

OnChanged = Callable[[int, str, str, os.stat_result], None]
"""Called with (directory fd, name, relative path, lstat) for a file whose key is not known."""

Entry = tuple[int, str, int]
"""A file as the tree knows it: ``(st_mode, content digest, size)``."""

Keep = Callable[[int, str, os.stat_result], tuple[StatKey, str] | None]
"""Copies a file's content (a symlink's target) from its directory's descriptor into a store:
the file's key and digest, or None if it is gone or no longer a file or symlink."""

RACY_MARGIN_NS = 2_000_000_000
"""How close to a scan a change must be to be distrusted: the coarse kernel clock lags by a
tick, FAT stores times in 2 s steps."""

_NOT_KEPT = "0" * 64  # a file too large to keep, in a saved tree
_DIRECTORY_FLAGS = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
_NO_LINKS = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC


@dataclass(frozen=True, slots=True)
class Directory:
    """A directory a walk enters.

    Attributes:
        relative: its path below the root (``""``: the root).
        inode: the inode its parent listed (None for the root): a directory swapped meanwhile,
            or a mount point, is not entered.
        scope: where git's rules stand in it; None while the walk has met no ignore file
            above it (nothing is ignored there).
    """

    relative: str
    inode: int | None = None
    scope: GitScope | None = None


@dataclass(frozen=True, slots=True)
class DirectoryView:
    """One directory as the walk saw it: git's rules for its entries (None: no ignore file
    applies, so every file counts and every subdirectory but ``.git`` is entered)."""

    directory: Directory
    rules: EntryRules | None

    @property
    def excluded(self) -> Callable[[str], object] | None:
        """The test that leaves a file of this directory out (``EntryRules.excluded``)."""
        return None if self.rules is None else self.rules.excluded


def open_directory(root_fd: int, relative: str, *, create: bool = False) -> int:
    """A descriptor of the directory ``relative`` below ``root_fd``, reached through no symlink:
    ``openat2`` beneath the root, else (and to make missing ones, with ``create``) one
    ``O_NOFOLLOW`` component at a time.

    Raises:
        OSError: a component is missing, not a directory, or a symlink.
    """
    if not create:
        try:
            return openat2(root_fd, relative or ".", _DIRECTORY_FLAGS, _NO_LINKS)
        except Openat2Unavailable:
            pass
        except OSError as exc:
            if exc.errno != errno.EAGAIN:  # EAGAIN: a rename meanwhile; walk instead
                raise
    fd = os.open(".", _DIRECTORY_FLAGS, dir_fd=root_fd)
    for part in relative.split("/") if relative else ():
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            child = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def open_workspace(root: str) -> Confinement:
    """The workspace ``root``, opened once for a walk.

    Raises:
        NotADirectoryError: ``root`` is not a directory (any more).
    """
    try:
        return Confinement(root)
    except FileSystemError as error:
        raise NotADirectoryError(errno.ENOTDIR, error.message, root) from error


class Walker:
    """Walks one workspace the way git sees it and reports its files' stat keys.

    Args:
        confinement: the workspace root.
        skipped: relative directories never entered (the checkpoint store, if it lies inside).
    """

    def __init__(self, confinement: Confinement, *, skipped: frozenset[str] = frozenset()) -> None:
        self.confinement = confinement
        self._skipped = skipped
        self._device = os.fstat(confinement.root_fd).st_dev
        self._meta: GitMeta | None = None
        self._git_view: GitView | None = None
        self.hidden: set[str] = set()
        """What its walks left out because git does: ignored files, ignored directories and
        nested repositories (relative paths; below a directory nothing is listed)."""

    @property
    def tracked_files(self) -> frozenset[str] | None:
        """The tracked files the last whole walk went by (None before one)."""
        return None if self._meta is None else self._meta.tracked_files

    def walk(
        self, known: dict[str, StatKey], on_changed: OnChanged, *, watch: WorkspaceWatch | None
    ) -> dict[str, StatKey]:
        """Every file of the workspace with its key, git's facts (index, ignore files) read
        again first; ``on_changed`` is called for each file whose key differs from ``known``;
        ``watch`` watches every directory entered, and the git index."""
        self._meta = meta = read_git_meta(self.confinement)
        has_excludes = meta.excludes_file is not None or meta.info_exclude is not None
        self._git_view = _git_view(meta) if has_excludes else None
        if watch is not None:
            watch.add_git_index(self.confinement)
        return self._walk([Directory("")], known, on_changed, watch)

    def examine(
        self,
        view: DirectoryView,
        names: Iterable[str],
        known: dict[str, StatKey],
        on_changed: OnChanged,
        watch: WorkspaceWatch | None,
    ) -> dict[str, StatKey]:
        """The files among ``names`` in ``view``'s directory (one this walker entered), and
        below those of them that are directories (walked, and watched), with their keys;
        ``on_changed`` as in ``walk``."""
        fd = self._open(view.directory)
        if fd is None:
            return {}
        found: dict[str, StatKey] = {}
        subdirectories: list[Directory] = []
        prefix = f"{view.directory.relative}/" if view.directory.relative else ""
        try:
            for name in names:
                relative = prefix + name
                try:
                    info = os.lstat(name, dir_fd=fd)
                except OSError:
                    continue
                mode = info.st_mode
                if stat.S_ISDIR(mode):
                    child = self._child(view, fd, name, info.st_ino)
                    subdirectories += [child] if child is not None else []
                elif name == ".git" or not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                    continue
                elif view.excluded is not None and view.excluded(relative):
                    self.hidden.add(relative)
                else:
                    found[relative] = key = stat_key(info)
                    if known.get(relative) != key:
                        on_changed(fd, name, relative, info)
        finally:
            os.close(fd)
        if subdirectories:
            found.update(self._walk(subdirectories, known, on_changed, watch))
        return found

    def _walk(
        self,
        stack: list[Directory],
        known: dict[str, StatKey],
        on_changed: OnChanged,
        watch: WorkspaceWatch | None,
    ) -> dict[str, StatKey]:
        found: dict[str, StatKey] = {}
        while stack:
            directory = stack.pop()
            fd = self._open(directory)
            if fd is None:
                continue
            try:
                stack += self._walk_one(
                    directory, fd, known=known, found=found, on_changed=on_changed, watch=watch
                )
            finally:
                os.close(fd)
        return found

    def _open(self, directory: Directory) -> int | None:
        """``directory``, opened through no symlink; None if it is gone, unreadable, or not
        the inode its parent listed (swapped meanwhile, or a mount point)."""
        try:
            fd = open_directory(self.confinement.root_fd, directory.relative)
            opened = os.fstat(fd)
        except OSError:
            return None
        if directory.inode is not None and (opened.st_ino, opened.st_dev) != (
            directory.inode,
            self._device,
        ):
            os.close(fd)
            return None
        return fd

    def _walk_one(
        self,
        directory: Directory,
        fd: int,
        *,
        known: dict[str, StatKey],
        found: dict[str, StatKey],
        on_changed: OnChanged,
        watch: WorkspaceWatch | None,
    ) -> list[Directory]:
        """Record the files of one directory; return its subdirectories to walk.

        Kept flat: it runs once per file, and the ``lstat`` of each file is most of a scan.
        """
        wd = watch.add(directory, fd) if watch is not None else None
        entries = list(os.scandir(fd))
        view = self._enter(directory, fd, entries)
        if view is None:
            self.hidden.add(directory.relative)  # a nested repository: git never enters it
            if watch is not None and wd is not None:
                watch.forget(wd)
            return []
        if watch is not None and wd is not None:
            watch.describe(wd, view)
        excluded = view.excluded
        prefix = f"{directory.relative}/" if directory.relative else ""
        children: list[Directory] = []
        known_key = known.get
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                child = self._child(view, fd, name, entry.inode())
                if child is not None:
                    children.append(child)
                continue
            relative = prefix + name
            if name == ".git":
                continue
            if excluded is not None and excluded(relative):
                self.hidden.add(relative)
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            mode = info.st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                continue  # FIFOs, sockets, devices: never recorded
            key = (mode, info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
            found[relative] = key
            if known_key(relative) != key:
                on_changed(fd, name, relative, info)
        return children

    def _enter(
        self, directory: Directory, fd: int, entries: list[os.DirEntry[str]]
    ) -> DirectoryView | None:
        """git's rules for ``directory``'s entries; None for a nested repository."""
        meta = self._meta
        assert meta is not None, "walk() reads git's facts first"
        view = self._git_view
        if view is None and any(entry.name == ".gitignore" for entry in entries):
            view = self._git_view = _git_view(meta)
        if view is not None:
            rules = view.enter(directory.scope or view.plain_scope(directory.relative), fd, entries)
            return None if rules is None else DirectoryView(directory, rules)
        if directory.relative and meta.is_nested_repository(directory.relative, entries):
            return None
        return DirectoryView(directory, None)

    def _child(self, view: DirectoryView, fd: int, name: str, inode: int) -> Directory | None:
        """The subdirectory ``name`` of ``view``'s directory (``fd``) to walk, or None
        (``.git``, skipped, the staging folder, or ignored)."""
        parent = view.directory.relative
        relative = f"{parent}/{name}" if parent else name
        if name == ".git" or relative in self._skipped:
            return None
        if not parent and Staging.is_staging_folder(fd, name):
            return None  # sa3p's own write staging: listings leave it out too
        if view.rules is None:
            return Directory(relative, inode)
        scope = view.rules.subdirectory(name)
        if scope is None:
            self.hidden.add(relative)  # ignored: git never enters it
            return None
        return Directory(relative, inode, scope)


def _git_view(meta: GitMeta) -> GitView:
    """git's view for one walk (``_git_listing``), imported only for a workspace with an
    ignore file."""
    from sa3p_host._local._git_listing import GitView  # noqa: PLC0415 - see the docstring

    return GitView(meta)


def stat_key(info: os.stat_result) -> StatKey:
    return (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)


# inotify(7): event bits, flags of inotify_init1 and inotify_add_watch, and the event header.
_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_Q_OVERFLOW, _IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
_IN_ONLYDIR, _IN_EXCL_UNLINK = 0x01000000, 0x04000000
_IN_ISDIR = 0x40000000
_WATCHED = (
    _IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE
    | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF
)  # fmt: skip
# Watches are added on ``/proc/self/fd/N`` of the descriptor the walk opened: that link must
# be followed (no IN_DONT_FOLLOW) to reach the very directory the walk lists.
_ADD_FLAGS = _WATCHED | _IN_ONLYDIR | _IN_EXCL_UNLINK
_INDEX_FLAGS = _IN_MOVED_TO | _IN_CLOSE_WRITE | _IN_DELETE | _IN_ONLYDIR
_GIVE_UP = _IN_Q_OVERFLOW | _IN_MOVE_SELF
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len: struct inotify_event


@dataclass(slots=True)
class WatchedChanges:
    """What the watches saw since they were last read.

    Attributes:
        names: per watched directory (by relative path), the names of entries that may have
            changed: files, and directories made (to be walked whole).
        removed: relative paths of directories removed: every file below them is gone,
            unless a directory of that name was made again (then in ``names``).
        index_changed: the git index was written (the tracked files may differ).
    """

    names: dict[str, set[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    index_changed: bool = False


class WorkspaceWatch:
    """inotify watches on the directories walks entered and on the git index.

    Linux only: ``open`` returns None elsewhere, without ``/proc`` (watches are added through
    the walk's descriptors), or when inotify is unavailable.
    """

    def __init__(
        self,
        fd: int,
        add_watch: Callable[[int, bytes, int], int],
        remove_watch: Callable[[int, int], int],
    ) -> None:
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd)
        self._add_watch = add_watch
        self._remove_watch = remove_watch
        self._watched: dict[int, DirectoryView | Directory] = {}
        self._by_path: dict[str, DirectoryView] = {}
        self._index_wd = -1
        self._broken = False

    @classmethod
    def open(cls) -> WorkspaceWatch | None:
        if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/fd"):
            return None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(fd, libc.inotify_add_watch, libc.inotify_rm_watch) if fd >= 0 else None

    def add(self, directory: Directory, fd: int) -> int | None:
        """Watch ``directory``, open as ``fd`` (before it is listed); the watch descriptor, for
        ``describe`` or ``forget``."""
        if self._broken:
            return None
        wd = self._add_watch(self._fd, _descriptor_path(fd), _ADD_FLAGS)
        known = self._watched.get(wd)
        if wd < 0 or (known is not None and _relative(known) != directory.relative):
            self._broken = True  # out of watches, or one directory under two paths
            return None
        self._watched[wd] = directory
        return wd

    def describe(self, wd: int, view: DirectoryView) -> None:
        """What the walk found in the directory of ``wd``: the rules its entries are under."""
        self._watched[wd] = self._by_path[view.directory.relative] = view

    def forget(self, wd: int) -> None:
        """Stop watching the directory of ``wd``: the walk does not enter it after all (a
        nested repository); what happens in it is none of the workspace's."""
        self._watched.pop(wd, None)
        self._remove_watch(self._fd, wd)

    def add_git_index(self, confinement: Confinement) -> None:
        """Watch the git directory of the workspace at ``confinement`` for its index (files
        tracked or untracked); a repository whose index cannot be watched breaks the watch."""
        git_dir = None if self._broken else open_git_directory(confinement)
        if git_dir is None:
            return
        try:
            self._index_wd = self._add_watch(self._fd, _descriptor_path(git_dir), _INDEX_FLAGS)
        finally:
            os.close(git_dir)
        self._broken = self._index_wd < 0

    def view(self, relative: str) -> DirectoryView | None:
        """A watched directory, by relative path."""
        return self._by_path.get(relative)

    def changes(self) -> WatchedChanges | None:
        """What changed since the last call; None when something cannot be attributed (the
        caller then walks everything, with a new watch)."""
        seen = WatchedChanges()
        while not self._broken:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return seen
            position = 0
            while position < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, position)
                start = position + _EVENT.size
                name = os.fsdecode(data[start : start + length].rstrip(b"\0"))
                position = start + length
                self._broken = self._broken or not self._note(seen, wd, mask, name)
        return None

    def _note(self, seen: WatchedChanges, wd: int, mask: int, name: str) -> bool:
        """Add one event to ``seen``; False if it cannot be attributed."""
        if mask & _GIVE_UP or (mask & _IN_ISDIR and mask & (_IN_MOVED_FROM | _IN_MOVED_TO)):
            return False
        if wd == self._index_wd:
            seen.index_changed |= name == "index"
            return True
        watched = self._watched.get(wd)
        if watched is not None and mask & _IN_IGNORED:  # gone: its parent saw it go
            del self._watched[wd]
            if self._by_path.get(_relative(watched)) is watched:
                del self._by_path[_relative(watched)]
        if watched is None or mask & (_IN_IGNORED | _IN_DELETE_SELF):
            return True
        if not isinstance(watched, DirectoryView):
            return False  # an event before its walk described the directory
        relative = watched.directory.relative
        if not mask & _IN_ISDIR:
            seen.names.setdefault(relative, set()).add(name)
            return name != ".gitignore"  # new rules for a whole directory: walk everything
        if mask & _IN_DELETE:
            seen.removed.append(f"{relative}/{name}" if relative else name)
        if mask & _IN_CREATE:
            seen.names.setdefault(relative, set()).add(name)
        return True

    def close(self) -> None:
        self._closer()


def _descriptor_path(fd: int) -> bytes:
    return b"/proc/self/fd/%d" % fd


def _relative(watched: DirectoryView | Directory) -> str:
    return watched.directory.relative if isinstance(watched, DirectoryView) else watched.relative


@dataclass(slots=True)
class Tree:
    """The workspace as last scanned: each file's stat key and content digest (sha256 hex;
    ``""`` when the file is too large to keep)."""

    keys: dict[str, StatKey] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)

    _MAGIC = b"SA3PTREE"
    _HEADER = struct.Struct("<8sIQQ")  # magic, version, count, length of the paths section
    _KEY = struct.Struct("<5q")

    def encode(self) -> bytes:
        paths, keys, digests = list(self.keys), self.keys, self.digests
        names = "\0".join(paths).encode("utf-8", "surrogateescape")
        packed = struct.pack(f"<{5 * len(paths)}q", *itertools.chain.from_iterable(keys.values()))
        if list(digests) == paths and "" not in digests.values():
            hexes = "".join(digests.values())  # the common case, without a lookup per path
        else:
            hexes = "".join(digests[path] or _NOT_KEPT for path in paths)
        header = self._HEADER.pack(self._MAGIC, 1, len(paths), len(names))
        return header + names + packed + bytes.fromhex(hexes)

    @classmethod
    def decode(cls, data: bytes) -> Tree:
        """The tree in ``data``; an empty tree if it is damaged (everything is read again)."""
        try:
            magic, version, count, length = cls._HEADER.unpack_from(data)
            start = cls._HEADER.size
            end_keys = start + length + count * cls._KEY.size
            if magic != cls._MAGIC or version != 1 or len(data) != end_keys + 32 * count:
                return cls()
            paths = data[start : start + length].decode("utf-8", "surrogateescape").split("\0")
            keys = cls._KEY.iter_unpack(data[start + length : end_keys])
            hexes = data[end_keys:].hex()
        except (struct.error, UnicodeDecodeError):
            return cls()
        if count == 0:
            return cls()
        digests = [hexes[i : i + 64] for i in range(0, len(hexes), 64)]
        if _NOT_KEPT in digests:
            digests = ["" if digest == _NOT_KEPT else digest for digest in digests]
        return cls(dict(zip(paths, keys, strict=True)), dict(zip(paths, digests, strict=True)))


class TreeTracker:
    """Keeps a ``Tree`` in step with one workspace.

    ``catch_up`` examines only what the watch reported when it has watched since the tree was
    last in step (``in_step``), else walks everything with a new watch. Each file whose key
    changed goes to ``keep``; the first previous entry of each path it changes is noted in
    ``before`` (the caller empties it); ``dirty`` says the tree changed since it was saved.

    Args:
        root: the real path of the workspace.
        keep: copies a changed file into the store.
        skipped: relative directories never entered.
    """

    def __init__(self, root: str, keep: Keep, *, skipped: frozenset[str]) -> None:
        self.root = root
        self.tree = Tree()
        self.before: dict[str, Entry | None] = {}
        self.dirty = False
        self.in_step = False
        self._keep = keep
        self._skipped = skipped
        self._walker: Walker | None = None
        self._watch: WorkspaceWatch | None = None
        self._phase_started = 0
        self._linked: set[int] = set()

    @property
    def hidden(self) -> set[str]:
        """What the current walker left out (``Walker.hidden``); a new walk makes a new set."""
        return self._walker.hidden if self._walker is not None else set()

    def replace(self, tree: Tree) -> None:
        """Start again from ``tree`` (as saved): not in step with the watch."""
        self.tree, self.in_step, self.dirty = tree, False, False

    def stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self._watch, self.in_step = None, False

    def entry(self, path: str) -> Entry | None:
        key = self.tree.keys.get(path)
        return None if key is None else (key[0], self.tree.digests[path], key[1])

    def catch_up(self) -> None:
        """Bring the tree up to date with the workspace."""
        self._phase_started, self._linked = time.time_ns(), set()
        if self.in_step and self._examine():
            return
        self.stop_watching()
        self._watch = WorkspaceWatch.open()
        self._walker = Walker(open_workspace(self.root), skipped=self._skipped)
        keys = self.tree.keys
        found = self._walker.walk(keys, self._on_changed, watch=self._watch)
        for path in [path for path in keys if path not in found]:
            self._forget(path)
        self.in_step = self._watch is not None

    def _examine(self) -> bool:
        """Examine what the watch named, then the other names of changed hard-linked files (a
        change through one name shows in that name's directory only). False: the watch cannot
        say; walk everything."""
        changes = self._watch.changes() if self._watch is not None else None
        if changes is None or self._walker is None:
            return False
        if changes.index_changed and (
            read_git_meta(self._walker.confinement).tracked_files != self._walker.tracked_files
        ):
            return False  # files tracked or untracked: what is ignored may differ
        found: dict[str, StatKey] = {}
        if not self._examine_names(changes.names, found):
            return False
        linked: dict[str, set[str]] = {}
        for path, key in self.tree.keys.items() if self._linked else ():
            if key[3] in self._linked and path not in found:
                directory, _, name = path.rpartition("/")
                linked.setdefault(directory, set()).add(name)
        if linked and not self._examine_names(linked, found):
            return False
        for removed in changes.removed:
            below = removed + "/"
            for path in [p for p in self.tree.keys if p.startswith(below) and p not in found]:
                self._forget(path)
        return True

    def _examine_names(self, names: dict[str, set[str]], found: dict[str, StatKey]) -> bool:
        keys, watch, walker = self.tree.keys, self._watch, self._walker
        assert watch is not None and walker is not None
        for directory, entries in names.items():
            view = watch.view(directory)
            if view is None:
                return False
            found.update(walker.examine(view, entries, keys, self._on_changed, watch))
            prefix = f"{directory}/" if directory else ""
            for path in (prefix + name for name in entries):
                if path in keys and path not in found:
                    self._forget(path)
        return True

    def _on_changed(self, dir_fd: int, name: str, relative: str, info: os.stat_result) -> None:
        kept = self._keep(dir_fd, name, info)
        if kept is None:
            return  # gone or replaced since its stat: the next scan sees what is there
        key, digest = kept
        if info.st_nlink > 1:
            self._linked.add(info.st_ino)
        self.before.setdefault(relative, self.entry(relative))
        if key[4] >= self._phase_started - RACY_MARGIN_NS and digest:
            key = (key[0], key[1], -1, key[3], key[4])  # racy: read it again next time
        self.tree.keys[relative] = key
        self.tree.digests[relative] = digest
        self.dirty = True

    def _forget(self, path: str) -> None:
        self.before.setdefault(path, self.entry(path))
        del self.tree.keys[path], self.tree.digests[path]
        self.dirty = True


def write_back(root_fd: int, path: str, data: bytes, *, mode: int, link: bool) -> bool:
    """Put ``data`` at ``path`` (a symlink to it if ``link``; else a file of ``mode``, synced)
    by a rename; False if it cannot be (a parent is not a directory, a non-empty directory is
    in the way)."""
    parent, _, name = path.rpartition("/")
    temporary = f".sa3p-{os.urandom(16).hex()}.tmp"  # as LocalVfs's beside the target
    try:
        dir_fd = open_directory(root_fd, parent, create=True)
    except OSError:
        return False
    try:
        if link:
            os.symlink(os.fsdecode(data), temporary, dir_fd=dir_fd)
        else:
            fd = os.open(temporary, _CREATE, 0o600, dir_fd=dir_fd)
            try:
                _write_all(fd, data)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except IsADirectoryError:
            os.rmdir(name, dir_fd=dir_fd)  # an empty directory in the way; else OSError
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        return False
    finally:
        os.close(dir_fd)


def remove_file(root_fd: int, path: str) -> None:
    """Remove the file ``path``, then its parent directories left empty (not the root)."""
    parts = path.split("/")
    for depth in range(len(parts), 0, -1):
        try:
            dir_fd = open_directory(root_fd, "/".join(parts[: depth - 1]))
        except OSError:
            return
        try:
            if depth == len(parts):
                os.unlink(parts[-1], dir_fd=dir_fd)
            else:
                os.rmdir(parts[depth - 1], dir_fd=dir_fd)
        except OSError:
            return  # gone already, or a directory still holding something
        finally:
            os.close(dir_fd)
