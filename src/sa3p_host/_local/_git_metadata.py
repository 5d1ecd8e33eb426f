"""What a listing needs from git, read from git's own files without running git.

Three facts: where the repository's git directory is (``.git`` as a directory, or a ``.git``
file saying ``gitdir: …`` as worktrees and submodules have), which paths are tracked (the index,
``git-index(5)`` versions 2-4), and which global excludes file applies (``core.excludesFile``
from the system, global and repository config files; default ``$XDG_CONFIG_HOME/git/ignore``).

Limits, stated in the README: ``include``/``includeIf`` directives in config files are not
followed; a sparse index's directory entries are treated as tracked directories.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

__all__ = ["GitMeta", "read_git_meta"]

_INDEX_HEADER = struct.Struct(">4sLL")
_ENTRY_FIXED = 62
_FLAGS = struct.Struct(">H")
_EXTENDED_FLAG = 0x4000
_NAME_MASK = 0x0FFF


@dataclass(frozen=True, slots=True, kw_only=True)
class GitMeta:
    """The git facts a listing of one workspace uses.

    Attributes:
        tracked_files: paths in the index (``/``-separated, relative to the work tree).
        tracked_directories: every directory that holds a tracked path, at any depth.
        info_exclude: the repository's ``info/exclude`` file, or None outside a repository.
        excludes_file: the ``core.excludesFile`` in effect (it may not exist), or None.
    """

    tracked_files: frozenset[str]
    tracked_directories: frozenset[str]
    info_exclude: str | None
    excludes_file: str | None


def read_git_meta(root: str) -> GitMeta:
    """Read the git facts for a work tree rooted at ``root`` (or a plain directory)."""
    git_dir, common_dir = _find_git_dirs(root)
    config_files = _config_files(common_dir)
    excludes = _excludes_file(config_files)
    if git_dir is None or common_dir is None:
        return GitMeta(
            tracked_files=frozenset(),
            tracked_directories=frozenset(),
            info_exclude=None,
            excludes_file=excludes,
        )
    tracked = frozenset(_read_index_paths(os.path.join(git_dir, "index")))
    return GitMeta(
        tracked_files=tracked,
        tracked_directories=frozenset(_parents_of(tracked)),
        info_exclude=os.path.join(common_dir, "info", "exclude"),
        excludes_file=excludes,
    )


def _find_git_dirs(root: str) -> tuple[str | None, str | None]:
    dot_git = os.path.join(root, ".git")
    if os.path.isdir(dot_git):
        return dot_git, _common_dir(dot_git)
    try:
        with open(dot_git, encoding="utf-8", errors="surrogateescape") as handle:
            first = handle.readline().strip()
    except OSError:
        return None, None
    if not first.startswith("gitdir:"):
        return None, None
    git_dir = os.path.join(root, first[len("gitdir:") :].strip())
    return (git_dir, _common_dir(git_dir)) if os.path.isdir(git_dir) else (None, None)


def _common_dir(git_dir: str) -> str:
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as handle:
            return os.path.normpath(os.path.join(git_dir, handle.readline().strip()))
    except OSError:
        return git_dir


def _read_index_paths(index_path: str) -> list[str]:
    """Paths in a git index file (``git-index(5)``); empty when absent or unreadable."""
    try:
        with open(index_path, "rb") as handle:
            data = handle.read()
    except OSError:
        return []
    if len(data) < _INDEX_HEADER.size:
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


def _config_files(common_dir: str | None) -> list[str]:
    """Config files in git's order of precedence (later wins), per ``git-config(1)``."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = [] if os.environ.get("GIT_CONFIG_NOSYSTEM") else ["/etc/gitconfig"]
    global_override = os.environ.get("GIT_CONFIG_GLOBAL")
    if global_override is not None:
        files.append(global_override)
    else:
        files += [os.path.join(xdg, "git", "config"), os.path.join(home, ".gitconfig")]
    if common_dir is not None:
        files.append(os.path.join(common_dir, "config"))
    return files


def _excludes_file(config_files: list[str]) -> str | None:
    value: str | None = None
    for path in config_files:
        value = _core_excludes_file(path) or value
    if value is None:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return os.path.join(xdg, "git", "ignore")
    return os.path.expanduser(value) if value else None


def _core_excludes_file(path: str) -> str | None:
    """The last ``core.excludesFile`` in one config file (sections and keys case-insensitive)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    section, found = "", None
    for raw in lines:
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
