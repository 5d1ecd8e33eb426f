"""Listing a workspace the way git sees it.

The files listed equal ``git ls-files --cached --others --exclude-standard``: tracked files
(read from the index) always, untracked files unless ignored. Ignore rules follow
``gitignore(5)``: every ``.gitignore`` applies to its own directory and below, a deeper file
overrides a shallower one, the last matching line of a file wins, then ``.git/info/exclude``,
then ``core.excludesFile``. An ignored directory is not entered (so nothing below it can be
re-included, as in git), except to reach tracked files. Matching is pathspec's
``GitIgnoreSpec``. ``.git`` is never listed; a nested repository is listed as a directory but
not entered (git shows it as ``dir/``). Symlinks are listed as files and never followed. The
same rules apply outside a git repository (without the index or ``info/exclude``). These
decisions are ``GitView``'s (per directory: ``GitScope`` in, ``EntryRules`` out); the checkpoint
walk (``_workspace_tree``) goes by them too, so both see the same files.

Directories are listed too (with ``descendant_file_count``), including empty ones. No node is
marked ``modified_recently``: that needs an ``lstat`` of every file, and the engine asks
``LocalVfs.recently_modified`` about the files it shows instead. The workspace's own staging
folder (``_write_staging``, recognised by its marker) is left out; nothing else is ever hidden.

The walk goes by descriptors: each directory is opened ``O_DIRECTORY | O_NOFOLLOW`` relative to
its parent's descriptor, so a directory swapped for a symlink during a listing is skipped, never
followed out of the workspace. A directory's descriptor stays open until its last subdirectory
is opened, so a walk holds about as many descriptors as the tree is deep. Ignore files are read
through ``read_capped`` (regular files only, never a symlink, at most ``METADATA_CAP`` bytes,
as git refuses a symlinked ``.gitignore``); FIFOs, sockets and devices are not listed.

No file is ``stat``-ed: ``scandir``'s ``d_type`` says file or directory. A per-file ``lstat``
(~2 us each on the benchmark machine, even cached) was most of a listing's cost: 10,000 of them
took ~21 ms against ~9 ms for the whole ``git ls-files`` process, which never stats untracked
files either.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sa3p_engine import NodeKind, TreeNode
from sa3p_host._local._confinement import O_CLOEXEC, O_NOFOLLOW, O_PATH, Confinement
from sa3p_host._local._git_metadata import METADATA_CAP, GitMeta, read_git_meta
from sa3p_host._local._regular_files import read_capped
from sa3p_host._local._write_staging import Staging

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

__all__ = ["EntryRules", "GitScope", "GitView", "Lister"]

_new_node = tuple.__new__
"""Builds a ``TreeNode`` from all its fields without the Python-level ``__new__`` and its
defaults: once per listed file, that call was a sixth of a listing's cost."""
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | O_NOFOLLOW | O_CLOEXEC
_BY_PATH = operator.attrgetter("path")
_DIRECTORY_MARK = "ps_d"  # pathspec's name for it (pathspec.patterns.gitignore.spec._DIR_MARK)
_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


@dataclass(frozen=True, slots=True)
class _Layer:
    """The patterns of one ignore file and the directory they are relative to (``""``: top).

    Git decides path by path while it walks: a pattern counts for a path only when it matches
    that path itself (its basename, or its whole relative path for a pattern with a slash), and
    the last such pattern of the file wins. pathspec's ``GitIgnoreSpec`` answers a different
    question (is this path inside anything ignored?): its regexes also match through an
    ancestor directory, marking the ``/`` after it with the group ``_DIRECTORY_MARK``. So each
    pattern's own regex (compiled by pathspec) is used with ``\\Z`` appended when it has that
    group: then it matches only the path itself (a directory is tested as ``dir/``). Patterns
    without the group (``foo/**``, ``**``) match prefixes by design and are used as they are.

    ``quick`` is every pattern in one regex: when it does not match a file path (most paths),
    no pattern does. ``literals`` is cheaper still: for each ignoring pattern a piece of text
    every path it ignores contains (``.log`` for ``*.log``), or None when some pattern has none
    (``*``); a path containing none of them is not ignored by this layer, without a regex.
    """

    base: str
    patterns: tuple[tuple[bool, bool, re.Pattern[str]], ...]  # (include, marked, regex), last first
    quick: re.Pattern[str] | None
    literals: tuple[str, ...] | None = None

    @classmethod
    def of(cls, base: str, spec: GitIgnoreSpec) -> _Layer:
        kept = [
            (p, regex)
            for p in reversed(spec.patterns)
            if p.include is not None and (regex := getattr(p, "regex", None)) is not None
        ]
        originals = [(bool(p.include), regex) for p, regex in kept]
        patterns = tuple(_own_path_only(include, regex) for include, regex in originals)
        sources = [_NAMED_GROUP.sub("(?:", regex.pattern) for _, regex in originals]
        try:
            quick = re.compile("|".join(f"(?:{s})" for s in sources)) if sources else None
        except re.error:
            quick = None
        found = [_required_text(getattr(p, "pattern", None)) for p, _ in kept if p.include]
        literals = None if None in found else tuple(text for text in found if text is not None)
        return cls(base, patterns, quick, literals)

    def decide(self, local: str, is_directory: bool) -> bool | None:
        """True: ignored; False: re-included by a negation; None: no pattern matched."""
        if not is_directory and self.quick is not None and self.quick.search(local) is None:
            return None
        for include, marked, regex in self.patterns:
            if regex.search(local + "/" if is_directory and marked else local) is not None:
                return include
        return None


_PLAIN_RUN = re.compile(r"[A-Za-z0-9._/-]+")
"""Characters that stand for themselves in a gitignore pattern (no glob, escape or space)."""


def _required_text(pattern: object) -> str | None:
    """The longest run of plain characters of a gitignore ``pattern`` (slashes at its ends
    cut), which every path the pattern matches contains; None when there is none (``*``)."""
    if not isinstance(pattern, str) or "\\" in pattern:
        return None  # an escape: leave it to the regex
    body = pattern.strip().removeprefix("!")
    runs = [run.strip("/") for run in _PLAIN_RUN.findall(_without_classes(body))]
    longest = max(runs, key=len, default="")
    return longest or None


def _without_classes(pattern: str) -> str:
    """``pattern`` with its ``[...]`` classes replaced by ``*`` (their letters are choices,
    not text every match contains)."""
    return re.sub(r"\[[^\]]*\]?", "*", pattern)


def _own_path_only(include: bool, regex: re.Pattern[str]) -> tuple[bool, bool, re.Pattern[str]]:
    if _DIRECTORY_MARK not in regex.groupindex:
        return include, False, regex
    return include, True, re.compile(regex.pattern + r"\Z", regex.flags)


@dataclass(slots=True)
class _OpenDirectory:
    """A walked directory's descriptor, kept until its last pending subdirectory is opened."""

    fd: int
    waiting: int = 0

    def expect(self, children: int) -> None:
        self.waiting += children
        if self.waiting == 0:
            os.close(self.fd)

    def open_child(self, name: str) -> int | None:
        """Open subdirectory ``name`` (never through a symlink); None if that fails."""
        try:
            return os.open(name, _DIRECTORY_FLAGS, dir_fd=self.fd)
        except OSError:
            return None  # unreadable, vanished or swapped for a link: git skips it the same way
        finally:
            self.expect(-1)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A directory still to walk: ``name`` in ``parent``."""

    parent: _OpenDirectory
    name: str
    scope: GitScope


@dataclass(slots=True)
class _Found:
    """What one walk found (mutable, private to one ``list_below`` call).

    ``files`` are the file nodes; ``directories`` maps each directory to the number of files
    directly in it.
    """

    files: list[TreeNode] = field(default_factory=list)
    directories: dict[str, int] = field(default_factory=dict)


def _load_spec(content: bytes | None) -> GitIgnoreSpec | None:
    if content is None:
        return None
    lines = content.decode("utf-8", "surrogateescape").splitlines()
    from pathspec import GitIgnoreSpec  # noqa: PLC0415 - imported on first use: start-up time

    spec = GitIgnoreSpec.from_lines(lines)
    # A file of comments and blank lines (git's default info/exclude) decides nothing.
    return spec if any(pattern.include is not None for pattern in spec.patterns) else None


def _contains_any(text: str, pieces: tuple[str, ...]) -> bool:
    # A plain loop: it runs once per listed file, and any() over a generator costs twice as much.
    for piece in pieces:  # noqa: SIM110
        if piece in text:
            return True
    return False


def _ignored(relative: str, is_directory: bool, layers: tuple[_Layer, ...]) -> bool:
    """gitignore(5) precedence: the deepest layer with a matching pattern decides."""
    return _DirectoryRules.of(relative.rpartition("/")[0], layers).ignored(relative, is_directory)


@dataclass(frozen=True, slots=True)
class _DirectoryRules:
    """The layers that apply in one directory, deepest first, each with how much of a path to
    cut to make it relative to the layer's base (the same for every entry of the directory)."""

    applicable: tuple[tuple[int, _Layer], ...]

    @classmethod
    def of(cls, directory: str, layers: tuple[_Layer, ...]) -> _DirectoryRules:
        applicable: list[tuple[int, _Layer]] = []
        for layer in reversed(layers):
            if not layer.base:
                applicable.append((0, layer))
            elif directory == layer.base or directory.startswith(layer.base + "/"):
                applicable.append((len(layer.base) + 1, layer))
        return cls(tuple(applicable))

    def file_may_be_ignored(self) -> Callable[[str], object] | None:
        """A cheap test for a file path of this directory: a false value means no rule can
        decide it (so it is not ignored); None when no rule applies here at all. With one
        top-level ignore file it is that file's regex's own ``search`` (no wrapper call: it
        runs once per file of the tree)."""
        if not self.applicable:
            return None
        if any(layer.quick is None for _, layer in self.applicable):
            return lambda relative: True
        checks = tuple(
            (cut, layer.literals, layer.quick.search)
            for cut, layer in self.applicable
            if layer.quick
        )
        if len(checks) == 1 and checks[0][0] == 0:
            literals, search = checks[0][1], checks[0][2]
            if literals is None:
                return search
            return lambda relative: _contains_any(relative, literals) and search(relative)

        def may_be_ignored(relative: str) -> bool:
            for cut, literals, search in checks:
                local = relative[cut:]
                if (literals is None or _contains_any(local, literals)) and search(local):
                    return True
            return False

        return may_be_ignored

    def ignored(self, relative: str, is_directory: bool) -> bool:
        """Whether ``relative`` (an entry of this directory) is ignored."""
        for cut, layer in self.applicable:
            decision = layer.decide(relative[cut:], is_directory)
            if decision is not None:
                return decision
        return False


@dataclass(frozen=True, slots=True)
class GitScope:
    """Where git's rules stand in one directory before its entries are read.

    Attributes:
        relative: the directory, relative to the work tree (``""``: the top).
        layers: the ignore files in force from above, and the top's excludes.
        only_tracked: the directory is ignored: git enters it only for tracked files.
        may_be_repository: it may be a repository of its own (any directory but the top).
    """

    relative: str
    layers: tuple[_Layer, ...] = ()
    only_tracked: bool = False
    may_be_repository: bool = False


@dataclass(frozen=True, slots=True)
class EntryRules:
    """git's decisions for the entries of one directory (made by ``GitView.enter``).

    Attributes:
        relative: the directory, relative to the work tree.
        layers: the ignore files in force for its entries (its own ``.gitignore`` included).
        only_tracked: only its tracked files count (it is ignored).
        excluded: whether a file of the directory (by relative path) is left out: untracked,
            and ignored or below an ignored directory. None when none is: no rule applies
            here, so callers skip the test.
        rules: the layers as they apply in this directory.
        tracked_directories: the directories holding tracked paths (``GitMeta``'s).
    """

    relative: str
    layers: tuple[_Layer, ...]
    only_tracked: bool
    excluded: Callable[[str], object] | None
    rules: _DirectoryRules
    tracked_directories: frozenset[str]

    def subdirectory(self, name: str) -> GitScope | None:
        """How git walks the subdirectory ``name``; None when it does not enter it (ignored
        with nothing tracked below). ``.git`` is the caller's to leave out."""
        relative = f"{self.relative}/{name}" if self.relative else name
        if self.only_tracked or self.rules.ignored(relative, True):
            if relative not in self.tracked_directories:
                return None
            return GitScope(relative, self.layers, only_tracked=True)
        return GitScope(relative, self.layers, may_be_repository=True)


class GitView:
    """git's view of one work tree for one walk, directory by directory.

    ``enter`` gives the rules for a directory's entries: which files git lists, which
    subdirectories it enters. Listings (``Lister``) and checkpoints (``_workspace_tree``) both
    walk by it, so what each sees is decided by the same code.

    Args:
        meta: git's facts, read for this walk.
    """

    def __init__(self, meta: GitMeta) -> None:
        self.meta = meta
        self.top = GitScope("", _top_layers(meta))

    def plain_scope(self, relative: str) -> GitScope:
        """The scope of directory ``relative`` when no ignore file between the top and it
        applies: the top's excludes only (what a walk that met no ``.gitignore`` knows)."""
        return GitScope(relative, self.top.layers, may_be_repository=bool(relative))

    def enter(self, scope: GitScope, fd: int, entries: list[os.DirEntry[str]]) -> EntryRules | None:
        """The rules for the entries of ``scope``'s directory, ``fd`` (a descriptor of it)
        holding ``entries``; None for a nested repository, which git lists but never enters.

        Its own ``.gitignore`` is read here, through ``read_capped``: a regular file only,
        never through a symlink, at most ``METADATA_CAP`` bytes.
        """
        meta = self.meta
        if scope.may_be_repository and meta.is_nested_repository(scope.relative, entries):
            return None
        layers = scope.layers
        if not scope.only_tracked and any(entry.name == ".gitignore" for entry in entries):
            layers = _with_ignore_file(layers, scope.relative, fd)
        rules = _DirectoryRules.of(scope.relative, layers)
        excluded = _excluded_test(rules, scope.only_tracked, meta.tracked_files)
        return EntryRules(
            scope.relative, layers, scope.only_tracked, excluded, rules, meta.tracked_directories
        )


def _excluded_test(
    rules: _DirectoryRules, only_tracked: bool, tracked: frozenset[str]
) -> Callable[[str], object] | None:
    """``EntryRules.excluded``: a tracked file is never left out (gitignore(5)). The cheap test
    goes first (it runs once per file and is nearly always false); a truthy value excludes."""
    if only_tracked:
        return lambda relative: relative not in tracked
    may_ignore = rules.file_may_be_ignored()
    if may_ignore is None:
        return None
    ignored = rules.ignored
    return lambda relative: (
        may_ignore(relative) and relative not in tracked and ignored(relative, False)
    )


def _with_ignore_file(layers: tuple[_Layer, ...], base: str, directory: int) -> tuple[_Layer, ...]:
    """``layers`` and the ``.gitignore`` of ``directory`` (a descriptor of ``base``) if it has
    rules; read through ``read_capped``."""
    spec = _load_spec(read_capped(".gitignore", METADATA_CAP, directory=directory))
    return layers if spec is None else (*layers, _Layer.of(base, spec))


def _top_layers(meta: GitMeta) -> tuple[_Layer, ...]:
    """The layers of ``core.excludesFile`` and ``info/exclude``, in that order."""
    layers: list[_Layer] = []
    for content in (meta.excludes_file, meta.info_exclude):
        spec = _load_spec(content)
        if spec is not None:
            layers.append(_Layer.of("", spec))
    return tuple(layers)


class Lister:
    """Walks one workspace and returns its non-ignored nodes.

    Args:
        confinement: the workspace root.
        staging: the workspace's write staging (its folder is left out of listings).
    """

    def __init__(self, confinement: Confinement, *, staging: Staging) -> None:
        self._confinement = confinement
        self._staging = staging

    def list_below(self, directory: int, relative: str) -> list[TreeNode]:
        """Every non-ignored node strictly below ``directory`` (a descriptor of ``relative``).

        Git's facts (index, config) are re-read on each call so the listing is current.
        """
        view = GitView(read_git_meta(self._confinement))
        layers, ignored = self._ancestor_layers(relative, view.top.layers)
        if ignored and relative not in view.meta.tracked_directories:
            return []
        found = _Found()
        top = _OpenDirectory(os.dup(directory), 1)
        stack = [_Pending(top, ".", GitScope(relative, layers, only_tracked=ignored))]
        try:
            while stack:
                stack += self._walk_one(stack.pop(), view, found)
        finally:
            for pending in stack:  # only after a failure: release what is still open
                pending.parent.expect(-1)
        return self._nodes(relative, found)

    def _walk_one(self, pending: _Pending, view: GitView, found: _Found) -> list[_Pending]:
        """Record the files of one directory in ``found``; return its subdirectories to walk.

        One loop over the entries, kept flat on purpose: it runs once per file of the tree.
        ``d_type`` answers the kind without a system call (nothing is stat-ed); ignore rules
        are skipped when none applies here.
        """
        scope = pending.scope
        found.directories[scope.relative] = 0
        fd = pending.parent.open_child(pending.name)
        if fd is None:
            return []
        here = _OpenDirectory(fd)
        children: list[_Pending] = []
        try:
            entries = list(os.scandir(fd))
            rules = view.enter(scope, fd, entries)
            if rules is None:
                return []  # a nested repository: listed, never entered
            excluded = rules.excluded
            prefix = f"{scope.relative}/" if scope.relative else ""
            files, file_kind = found.files, NodeKind.FILE
            count = 0
            for entry in entries:
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    if name != ".git" and not (prefix == "" and self._is_staging(fd, name)):
                        child = rules.subdirectory(name)
                        if child is not None:
                            children.append(_Pending(here, name, child))
                    continue
                relative = prefix + name
                if excluded is not None and excluded(relative):
                    continue
                if not (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
                    continue  # sockets, fifos, devices: git does not list them
                if name == ".git":
                    continue  # .git as a file: a worktree's pointer, never listed
                files.append(_new_node(TreeNode, (relative, file_kind, 0, False)))
                count += 1
            found.directories[scope.relative] = count
            return children
        finally:
            here.expect(len(children))

    def _is_staging(self, fd: int, name: str) -> bool:
        return self._staging.is_staging_folder(fd, name)

    def _ancestor_layers(
        self, relative: str, layers: tuple[_Layer, ...]
    ) -> tuple[tuple[_Layer, ...], bool]:
        """The layers in force in ``relative`` (from its ancestors) and whether it is ignored.

        The directory's own ``.gitignore`` is left to the walk, which reads it with its entries.
        Ancestors are opened one by one from the root, never through a symlink.
        """
        if not relative:
            return layers, False
        parts = relative.split("/")
        directory: int | None = os.dup(self._confinement.root_fd)
        try:
            for depth in range(len(parts)):
                base = "/".join(parts[:depth])
                if directory is not None:
                    layers = _with_ignore_file(layers, base, directory)
                    directory = _enter(directory, parts[depth])
                if _ignored("/".join(parts[: depth + 1]), True, layers):
                    return layers, True
            return layers, False
        finally:
            if directory is not None:
                os.close(directory)

    def _nodes(self, relative: str, found: _Found) -> list[TreeNode]:
        """Files and directories as sorted ``TreeNode`` values, with counts rolled up."""
        directories = found.directories
        for directory in sorted(directories, key=len, reverse=True):  # deepest first
            if directory != relative:
                parent = directory.rpartition("/")[0]
                directories[parent] = directories.get(parent, 0) + directories[directory]
        directory_kind = NodeKind.DIRECTORY
        nodes = found.files
        nodes += [
            TreeNode(directory, directory_kind, count)
            for directory, count in directories.items()
            if directory != relative
        ]
        nodes.sort(key=_BY_PATH)
        return nodes


def _enter(directory: int, name: str) -> int | None:
    """Subdirectory ``name`` of ``directory`` (which is closed), never through a symlink."""
    try:
        return os.open(name, O_PATH | _DIRECTORY_FLAGS, dir_fd=directory)
    except OSError:
        return None
    finally:
        os.close(directory)
