"""What a listing needs from git, read from git's own files without running git.

Three facts: where the repository's git directory is (``.git`` as a directory, or a ``.git``
file saying ``gitdir: …`` as worktrees and submodules have), which paths are tracked (the index,
``git-index(5)`` versions 2-4), and which ignore files apply above the work tree
(``info/exclude`` and ``core.excludesFile`` from the system, global and repository config
files; default ``$XDG_CONFIG_HOME/git/ignore``).

Every file is read through ``read_capped``: only a regular file, never one that blocks, and at
most ``METADATA_CAP`` bytes (``INDEX_CAP`` for the index); a larger one counts as absent (an
index too large to read lists nothing as tracked, like a fresh repository). Inside the
workspace nothing is followed out of it: ``.git`` is resolved beneath the root and the last
component of every file is opened ``O_NOFOLLOW``. A ``.git`` file (or a ``commondir`` file)
may name a git directory outside the workspace, as worktrees and submodules do; it is read
there, read-only, by the same rules. The user's own config and excludes files (outside the
workspace by nature) are opened by path, links followed, by the same rules too.

Limits, stated in the README: ``include``/``includeIf`` directives in config files are not
followed; a sparse index's directory entries are treated as tracked directories.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from sa3p_engine import FileSystemError
from sa3p_host._local._confinement import O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_PATH, Confinement
from sa3p_host._local._regular_files import read_capped

__all__ = ["INDEX_CAP", "METADATA_CAP", "GitMeta", "open_git_directory", "read_git_meta"]

METADATA_CAP = 4 << 20
"""Bytes read at most from an ignore, config, ``.git`` or ``commondir`` file (4 MiB)."""
INDEX_CAP = 32 << 20
"""Bytes read at most from ``.git/index`` (32 MiB: about 300,000 tracked files)."""

_INDEX_HEADER = struct.Struct(">4sLL")
_ENTRY_FIXED = 62
_FLAGS = struct.Struct(">H")
_EXTENDED_FLAG = 0x4000
_NAME_MASK = 0x0FFF
_DIRECTORY = O_PATH | O_DIRECTORY | O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class GitMeta:
    """The git facts a listing of one workspace uses.

    Attributes:
        tracked_files: paths in the index (``/``-separated, relative to the work tree).
        tracked_directories: every directory that holds a tracked path, at any depth.
        info_exclude: the content of the repository's ``info/exclude`` (None: none).
        excludes_file: the content of the ``core.excludesFile`` in effect (None: none).
    """

    tracked_files: frozenset[str]
    tracked_directories: frozenset[str]
    info_exclude: bytes | None
    excludes_file: bytes | None

    def is_nested_repository(self, relative: str, entries: Iterable[os.DirEntry[str]]) -> bool:
        """Whether the directory ``relative`` (below the top), holding ``entries``, is a
        repository of its own: it holds ``.git`` and nothing tracked lies below it. git lists
        such a directory (as ``dir/``) and never enters it."""
        return relative not in self.tracked_directories and any(
            entry.name == ".git" for entry in entries
        )


def read_git_meta(confinement: Confinement) -> GitMeta:
    """Read the git facts for the work tree at ``confinement``'s root (or a plain directory)."""
    git_dir, common_dir = _find_git_dirs(confinement)
    try:
        config_texts = _config_texts(common_dir)
        excludes = _excludes_file(config_texts)
        if git_dir is None or common_dir is None:
            return GitMeta(
                tracked_files=frozenset(),
                tracked_directories=frozenset(),
                info_exclude=None,
                excludes_file=excludes,
            )
        tracked = frozenset(_read_index_paths(read_capped("index", INDEX_CAP, directory=git_dir)))
        return GitMeta(
            tracked_files=tracked,
            tracked_directories=frozenset(_parents_of(tracked)),
            info_exclude=_read_in(common_dir, "info", "exclude"),
            excludes_file=excludes,
        )
    finally:
        for fd in {git_dir, common_dir}:
            if fd is not None:
                os.close(fd)


def open_git_directory(confinement: Confinement) -> int | None:
    """A descriptor (the caller's to close) of the git directory of the work tree at
    ``confinement``'s root, the one holding its index; None outside a repository. Found as
    ``read_git_meta`` finds it: ``.git`` beneath the root, or where a ``.git`` file points."""
    git_dir, common_dir = _find_git_dirs(confinement)
    if common_dir is not None and common_dir != git_dir:
        os.close(common_dir)
    return git_dir


def _find_git_dirs(confinement: Confinement) -> tuple[int | None, int | None]:
    """Descriptors (owned) of the git directory and the common directory, or (None, None)."""
    try:
        with confinement.open(".git", O_PATH, action="read") as opened:
            if stat.S_ISDIR(opened.info.st_mode):
                git_dir = os.dup(opened.fd)
                return git_dir, _common_dir(git_dir)
    except FileSystemError:
        return None, None
    pointer = read_capped(".git", METADATA_CAP, directory=confinement.root_fd)
    first = os.fsdecode(pointer or b"").partition("\n")[0].strip()
    if not first.startswith("gitdir:"):
        return None, None
    location = os.path.join(confinement.root, first[len("gitdir:") :].strip())
    try:
        git_dir = os.open(location, _DIRECTORY)
    except OSError:
        return None, None
    return git_dir, _common_dir(git_dir)


def _common_dir(git_dir: int) -> int:
    """The common directory named by ``git_dir``'s ``commondir`` file, or ``git_dir`` itself."""
    pointer = read_capped("commondir", METADATA_CAP, directory=git_dir)
    location = os.fsdecode(pointer or b"").partition("\n")[0].strip()
    if location:
        with contextlib.suppress(OSError):
            return os.open(location, _DIRECTORY, dir_fd=git_dir)
    return git_dir


def _read_in(directory: int, folder: str, name: str) -> bytes | None:
    """``folder/name`` below ``directory``, neither component followed if a symlink."""
    try:
        fd = os.open(folder, _DIRECTORY | O_NOFOLLOW, dir_fd=directory)
    except OSError:
        return None
    try:
        return read_capped(name, METADATA_CAP, directory=fd)
    finally:
        os.close(fd)


def _read_index_paths(data: bytes | None) -> list[str]:
    """Paths in a git index file's content (``git-index(5)``); empty when absent or corrupt."""
    if data is None or len(data) < _INDEX_HEADER.size:
        return []
    signature, version, count = _INDEX_HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3, 4):
        return []
    try:
        return _index_entries(data, version, count)
    except (ValueError, IndexError, struct.error):
        return []  # a corrupt index lists nothing as tracked, like a fresh repository


def _index_entries(data: bytes, version: int, count: int) -> list[str]:
    paths: list[str] = []
    position = _INDEX_HEADER.size
    previous = b""
    for _ in range(count):
        start = position
        (flags,) = _FLAGS.unpack_from(data, start + _ENTRY_FIXED - 2)
        position = start + _ENTRY_FIXED
        if version >= 3 and flags & _EXTENDED_FLAG:
            position += 2
        if version == 4:
            strip, position = _varint(data, position)
            end = data.index(b"\0", position)
            name = previous[: len(previous) - strip] + data[position:end]
            position = end + 1
        else:
            end = data.index(b"\0", position)
            name = data[position:end]
            position = start + ((end - start) // 8 + 1) * 8
        previous = name
        paths.append(os.fsdecode(name))
    return paths


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """git's offset varint (``varint.c``): 7 bits per byte, +1 on each continuation."""
    byte = data[position]
    value = byte & 0x7F
    position += 1
    while byte & 0x80:
        byte = data[position]
        value = ((value + 1) << 7) | (byte & 0x7F)
        position += 1
    return value, position


def _parents_of(paths: frozenset[str]) -> set[str]:
    parents: set[str] = set()
    for path in paths:
        cut = path.rfind("/")
        while cut > 0:
            parent = path[:cut]
            if parent in parents:
                break
            parents.add(parent)
            cut = parent.rfind("/")
    return parents


def _config_texts(common_dir: int | None) -> list[bytes]:
    """Config files' contents in git's order of precedence (later wins), per ``git-config(1)``."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    paths = [] if os.environ.get("GIT_CONFIG_NOSYSTEM") else ["/etc/gitconfig"]
    global_override = os.environ.get("GIT_CONFIG_GLOBAL")
    if global_override is not None:
        paths.append(global_override)
    else:
        paths += [os.path.join(xdg, "git", "config"), os.path.join(home, ".gitconfig")]
    texts = [text for path in paths if (text := _read_user_file(path)) is not None]
    if common_dir is not None:
        text = read_capped("config", METADATA_CAP, directory=common_dir)
        texts += [text] if text is not None else []
    return texts


def _read_user_file(path: str) -> bytes | None:
    """A file of the user's own (outside the workspace): links followed, regular files only."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    return read_capped(real, METADATA_CAP)


def _excludes_file(config_texts: list[bytes]) -> bytes | None:
    value: str | None = None
    for text in config_texts:
        value = _core_excludes_file(text) or value
    if value is None:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return _read_user_file(os.path.join(xdg, "git", "ignore"))
    return _read_user_file(os.path.expanduser(value)) if value else None


def _core_excludes_file(text: bytes) -> str | None:
    """The last ``core.excludesFile`` in one config file (sections and keys case-insensitive)."""
    section, found = "", None
    for raw in text.decode("utf-8", "surrogateescape").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line[1:].split("]", 1)[0].strip().split()[0].lower() if "]" in line else ""
            line = line.split("]", 1)[1].strip() if "]" in line else ""
        key, separator, value = line.partition("=")
        if section == "core" and separator and key.strip().lower() == "excludesfile":
            found = _config_value(value)
    return found


def _config_value(raw: str) -> str:
    """A config value: quotes removed, ``\\`` escapes applied, trailing comments dropped."""
    out: list[str] = []
    quoted = escaped = False
    for char in raw.strip():
        if escaped:
            out.append({"n": "\n", "t": "\t", "b": "\b"}.get(char, char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char in "#;" and not quoted:
            break
        else:
            out.append(char)
    return "".join(out).strip()
