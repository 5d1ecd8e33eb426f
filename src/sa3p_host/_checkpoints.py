"""Checkpoints: what each turn changed in a workspace, whoever changed it, and undo.

A store per workspace, outside it: ``$XDG_STATE_HOME/sa3p/workspaces/<key>/`` (default
``~/.local/state``; ``<key>``: the first 20 hex digits of the sha256 of the workspace's real
path, as sessions key theirs), private (0700), hidden from the bubblewrap sandbox with the
home directory::

    workspace     the workspace's real path (a store whose workspace is gone is removed)
    lock          flock: one turn at a time (begin_turn … end_turn, undo)
    state.json    the next turn's number, the bytes of blobs, the turn now open
    tree          the workspace as last scanned (``_workspace_scan.Tree``): path → stat key,
                  content digest
    objects/ab/…  blobs named by the sha256 of their content (a file's bytes, a symlink's
                  target), shared by every turn and the tree
    turns/N.json  one record per turn that changed something: the commands it ran, each file
                  changed with its state before and after
    tmp/          files being written; every write is a temporary file renamed into place

``begin_turn`` walks the workspace (stat only, reading just the files whose stat key changed
since the last scan: edits made between turns become the turn's starting point, attributed to
no turn) and watches its directories; ``end_turn`` examines what the watches name (the whole
workspace again when they cannot say) and records the difference. A crash leaves the previous
records and blobs as they were; a turn left open by a crash is recorded at the next
``begin_turn`` from the tree saved when it began.

Bound: blobs over ``max_bytes`` (256 MiB) prune the oldest turns until they fit in three
quarters of it, then blobs nothing references are deleted; at most ``max_turns`` (200) turns
are kept; the content of files over ``max_file_bytes`` (32 MiB) is not kept (their changes are
listed but cannot be undone). The blobs of the current tree always stay: a workspace larger
than the bound keeps its newest turn only.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sa3p_engine import CommandOutput, NoticeOutput
from sa3p_host._local._git_metadata import read_git_meta
from sa3p_host._workspace_scan import (
    RACY_MARGIN_NS,
    StatKey,
    Tree,
    Walker,
    WorkspaceWatch,
    open_directory,
    stat_key,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_TURNS",
    "ChangeKind",
    "CheckpointError",
    "CheckpointUsageError",
    "Checkpoints",
    "FileChange",
    "FileKind",
    "FileState",
    "TurnNotFound",
    "TurnRecord",
    "WorkspaceBusy",
    "store_directory",
]

DEFAULT_MAX_BYTES = 256 << 20
DEFAULT_MAX_TURNS = 200
DEFAULT_MAX_FILE_BYTES = 32 << 20
_READ_WHOLE = 4 << 20
_NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_INTERRUPTED = "(interrupted: the run ended before its checkpoint; changes found at the next turn)"


class CheckpointError(Exception):
    """A checkpoint operation could not be done; the message says why."""


class WorkspaceBusy(CheckpointError):
    """Another turn (a ``sa3p run``, or a library user's turn) holds the workspace."""


class TurnNotFound(CheckpointError):
    """No such turn in the history (never recorded, or pruned).

    Attributes:
        turn: the turn asked for (None: the last one, and there is none).
    """

    def __init__(self, turn: int | None, message: str) -> None:
        super().__init__(message)
        self.turn = turn


class CheckpointUsageError(CheckpointError):
    """The API was misused: ``end_turn`` without ``begin_turn``, a turn begun twice."""


class FileKind(enum.StrEnum):
    FILE = "file"
    SYMLINK = "symlink"


class ChangeKind(enum.StrEnum):
    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileState:
    """A file as a checkpoint keeps it.

    Attributes:
        kind: a regular file or a symlink (recorded as its target, never followed).
        mode: the permission bits (``0o755``…).
        size: bytes (a symlink: its target's).
        blob: the sha256 of the content (a symlink: of its target); ``""`` when the file was
            larger than ``max_file_bytes`` and its content was not kept.
    """

    kind: FileKind
    mode: int
    size: int
    blob: str

    def __post_init__(self) -> None:
        if not 0 <= self.mode <= 0o7777 or self.size < 0:
            raise ValueError(f"bad mode {self.mode:o} or size {self.size}")
        if self.blob and (len(self.blob) != 64 or self.blob.strip("0123456789abcdef")):
            raise ValueError(f"a blob is a sha256 in hex, not {self.blob!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChange:
    """One file a turn changed: its state before and after (None: absent)."""

    path: str
    before: FileState | None
    after: FileState | None

    def __post_init__(self) -> None:
        if self.before is None and self.after is None:
            raise ValueError(f"a change of {self.path!r} has a before or an after")

    @property
    def kind(self) -> ChangeKind:
        if self.before is None:
            return ChangeKind.CREATED
        return ChangeKind.DELETED if self.after is None else ChangeKind.MODIFIED


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRecord:
    """One turn of the history.

    Attributes:
        number: 1, 2, … in the workspace's history (never reused).
        started: when the turn began (seconds since the epoch).
        finished: when it was recorded.
        commands: what the turn ran, one line each (``terminal rm a.txt``).
        changes: the files it changed, by path.
        undoes: for an undo, the turn it went back to the start of.
        unrestored: for an undo, paths it could not restore (content not kept, or in the way).
    """

    number: int
    started: float
    finished: float
    commands: tuple[str, ...]
    changes: tuple[FileChange, ...]
    undoes: int | None = None
    unrestored: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.number < 1:
            raise ValueError(f"turns are numbered from 1, not {self.number}")

    def render(self) -> str:
        """The turn as ``sa3p history`` shows it: a heading, the commands, the files."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        undo = f", undoing turn {self.undoes} and later" if self.undoes is not None else ""
        lines = [f"turn {self.number}  {when}  {len(self.changes)} files changed{undo}"]
        lines += [f"  ran       {command}" for command in self.commands]
        lines += [f"  {change.kind:<9} {change.path}" for change in self.changes]
        lines += [f"  not restored (content not kept, or in the way): {p}" for p in self.unrestored]
        return "\n".join(lines)


# A file's entry in the tree: (st_mode, digest, size).
_Entry = tuple[int, str, int]


def store_directory(workspace: str | os.PathLike[str], state_home: str | None = None) -> Path:
    """Where ``workspace``'s checkpoints live (not created)."""
    real = os.path.realpath(workspace)
    key = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return _state_root(state_home) / "workspaces" / key


def _state_root(state_home: str | None) -> Path:
    base = state_home or os.environ.get("XDG_STATE_HOME") or ""
    if not os.path.isabs(base):  # XDG: a relative or empty value is ignored
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base, "sa3p")


@dataclass(slots=True)
class _OpenTurn:
    """A turn between ``begin_turn`` and ``end_turn``: each path it changed, as it was."""

    number: int
    started: float
    before: dict[str, _Entry | None] = field(default_factory=dict)


class Checkpoints:
    """The checkpoint store of one workspace.

    Around each turn: ``begin_turn()``, the turn, ``end_turn(commands)``. Nothing is read or
    written before the first call. Between turns the object keeps watching the workspace
    (inotify), so its next ``begin_turn`` reads only what changed; a new object walks the
    whole workspace once. ``close()`` ends the watching. Not thread-safe.

    Args:
        workspace: the workspace directory.
        state_home: instead of ``$XDG_STATE_HOME`` (default ``~/.local/state``).
        max_bytes: blobs past this prune the oldest turns.
        max_turns: turns kept.
        max_file_bytes: larger files are tracked but their content is not kept.
    """

    def __init__(
        self,
        workspace: str | os.PathLike[str],
        *,
        state_home: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_turns: int = DEFAULT_MAX_TURNS,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.workspace = os.path.realpath(workspace)
        self.directory = store_directory(self.workspace, state_home)
        self._limits = (max_bytes, max(1, max_turns), max_file_bytes)
        self._lock_fd: int | None = None
        self._tree = Tree()
        self._tree_token: str | None = None  # names the saved tree the one in memory is
        self._dirty = False
        self._state: dict[str, Any] = {}
        self._turn: _OpenTurn | None = None
        self._walker: Walker | None = None
        self._watch: WorkspaceWatch | None = None
        self._tree_current = False  # the tree in memory is the saved one, watched since
        self._phase_started = 0
        self._linked: set[int] = set()
        self._fanout: set[str] = set()

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop watching; give up an open turn (recorded at the next ``begin_turn``)."""
        self._stop_watching()
        self._release()

    def _stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self._watch, self._tree_current = None, False

    def _abandon(self) -> None:
        """After a failure: the tree in memory may be ahead of the saved one; read that again
        (the turn left open is then recorded from it at the next ``begin_turn``)."""
        self._stop_watching()
        self._tree_token = None

    def _release(self) -> None:
        self._turn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def begin_turn(self, *, wait: bool = True) -> None:
        """Record the workspace's state before a turn; hold the workspace until ``end_turn``.

        Raises:
            WorkspaceBusy: ``wait`` is False and another turn holds the workspace.
            CheckpointUsageError: a turn is already open.
        """
        if self._turn is not None:
            raise CheckpointUsageError("begin_turn: a turn is already open; end it first")
        self._acquire(wait)
        try:
            self._begin()
        except BaseException:
            self._abandon()
            self._release()
            raise

    def end_turn(self, commands: Iterable[str | CommandOutput] = ()) -> TurnRecord | None:
        """Record what the turn changed, and release the workspace.

        Args:
            commands: what the turn ran: lines, or the engine's outputs (``command subject``).

        Returns:
            The turn's record; None if it changed nothing (nothing is recorded).
        """
        if self._turn is None:
            raise CheckpointUsageError("end_turn: no turn is open; call begin_turn first")
        try:
            return self._end(tuple(_describe(c) for c in commands if _describes(c)))
        except BaseException:
            self._abandon()
            raise
        finally:
            self._release()

    def history(self) -> list[TurnRecord]:
        """Every turn kept, oldest first."""
        turns = self.directory / "turns"
        names = sorted(os.listdir(turns)) if turns.is_dir() else []
        records = [_read_record(turns / name) for name in names if name.endswith(".json")]
        return [record for record in records if record is not None]

    def undo(self, turn: int | None = None) -> TurnRecord | None:
        """Restore every file changed in ``turn`` and after to its state before them.

        The undo is a turn itself (so it can be undone). A file's state "before" is its state
        when the first of those turns that changed it began. Gitignored files are not touched.

        Args:
            turn: the first turn to undo (default: the last).

        Returns:
            The undo's record; None if every file was already as it was.

        Raises:
            WorkspaceBusy: another turn holds the workspace.
            TurnNotFound: no such turn is kept.
        """
        if self._turn is not None:
            raise CheckpointUsageError("undo: a turn is open; end it first")
        self._acquire(wait=False)
        try:
            self._begin()  # first, so that a turn a crash left open is in the history
            records = self.history()
            number = turn if turn is not None else (records[-1].number if records else None)
            if number is None or all(record.number != number for record in records):
                self._state["open"] = None
                self._save(tree=True)
                raise TurnNotFound(number, _missing(number, records))
            targets: dict[str, FileState | None] = {}
            for record in records:
                for change in record.changes if record.number >= number else ():
                    targets.setdefault(change.path, change.before)
            unrestored = self._restore(targets)
            return self._end((f"undo --turn {number}",), undoes=number, unrestored=unrestored)
        except TurnNotFound:
            raise
        except BaseException:
            self._abandon()
            raise
        finally:
            self._release()

    # The store ------------------------------------------------------------------------------

    def _acquire(self, wait: bool) -> None:
        directory = self.directory
        if not directory.is_dir():
            _create_store(directory, self.workspace)
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise WorkspaceBusy(
                f"another sa3p run (or turn) is using {self.workspace}; try when it ends"
            ) from None
        self._lock_fd = fd

    def _load(self) -> None:
        """The state and, if another process changed it, the tree (else the one in memory)."""
        try:
            self._state = _checked_state(json.loads((self.directory / "state.json").read_bytes()))
        except (OSError, ValueError):
            self._state = {}
        token = self._state.get("tree")
        if token is None or token != self._tree_token:  # another process saved it, or none
            try:
                self._tree = Tree.decode((self.directory / "tree").read_bytes())
            except FileNotFoundError:
                self._tree = Tree()
            self._tree_token, self._tree_current, self._dirty = token, False, False

    def _save(self, *, tree: bool) -> None:
        token = os.urandom(8).hex() if tree and self._dirty else None
        if token is not None:
            _write_atomically(self.directory / "tree", self._tree.encode())
            self._state["tree"] = token
        _write_atomically(self.directory / "state.json", json.dumps(self._state).encode())
        if token is not None:
            self._tree_token, self._dirty = token, False

    def _begin(self) -> None:
        self._load()
        interrupted = self._state.get("open")
        if interrupted and not (self.directory / "turns" / _record_name(interrupted[0])).exists():
            self._turn = _OpenTurn(interrupted[0], interrupted[1])
            self._end((_INTERRUPTED,))
            self._load()
        number = max(int(self._state.get("next", 1)), 1)
        self._turn = turn = _OpenTurn(number, time.time())
        self._catch_up()
        self._state["open"] = [number, turn.started]
        # The tree is saved now only if contents changed since the last turn (so that a turn a
        # crash leaves open is measured from its true start); stat keys alone can wait.
        before = turn.before.items()
        self._save(tree=any(_content(old) != _content(self._entry(p)) for p, old in before))
        turn.before.clear()

    def _catch_up(self) -> None:
        """Bring the tree up to date: from the watch's events if it has watched since the
        tree was saved, else by walking everything (with a new watch)."""
        if self._tree_current and self._examine():
            return
        self._stop_watching()
        self._watch = WorkspaceWatch.open()
        store = os.path.relpath(os.path.realpath(self.directory.parent.parent), self.workspace)
        inside = not store.startswith("..") and store != "."
        self._walker = Walker(self.workspace, skipped=frozenset([store] if inside else []))
        self._phase_started, self._linked = time.time_ns(), set()
        keys = self._tree.keys
        found = self._walker.walk(keys, self._on_changed, watch=self._watch)
        for path in [path for path in keys if path not in found]:
            self._forget(path)
        self._tree_current = self._watch is not None

    def _end(
        self,
        commands: tuple[str, ...],
        *,
        undoes: int | None = None,
        unrestored: tuple[str, ...] = (),
    ) -> TurnRecord | None:
        turn = self._turn
        assert turn is not None
        self._catch_up()
        record = self._record(turn, commands, undoes, unrestored)
        if record is not None:
            _write_atomically(
                self.directory / "turns" / _record_name(record.number), _encode_record(record)
            )
            self._state["next"] = record.number + 1
        self._state["open"] = None
        self._save(tree=True)
        self._prune()
        return record

    # Scanning -------------------------------------------------------------------------------

    def _examine(self) -> bool:
        """Examine only what the watch named, then the other names of changed hard-linked
        files (a change through one name shows in that name's directory only). False: the
        watch cannot say, walk everything."""
        changes = self._watch.changes() if self._watch is not None else None
        if changes is None or self._walker is None:
            return False
        if changes.index_changed and (
            read_git_meta(self.workspace).tracked_files != self._walker.tracked_files
        ):
            return False  # files tracked or untracked: what is ignored may differ
        self._phase_started, self._linked = time.time_ns(), set()
        found: dict[str, StatKey] = {}
        if not self._examine_names(changes.names, found):
            return False
        linked: dict[str, set[str]] = {}
        for path, key in self._tree.keys.items() if self._linked else ():
            if key[3] in self._linked and path not in found:
                directory, _, name = path.rpartition("/")
                linked.setdefault(directory, set()).add(name)
        if linked and not self._examine_names(linked, found):
            return False
        for removed in changes.removed:
            below = removed + "/"
            for path in [p for p in self._tree.keys if p.startswith(below) and p not in found]:
                self._forget(path)
        return True

    def _examine_names(self, names: dict[str, set[str]], found: dict[str, StatKey]) -> bool:
        keys, watch, walker = self._tree.keys, self._watch, self._walker
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
        assert self._turn is not None
        self._turn.before.setdefault(relative, self._entry(relative))
        if key[4] >= self._phase_started - RACY_MARGIN_NS and digest:
            key = (key[0], key[1], -1, key[3], key[4])  # racy: read it again next time
        self._tree.keys[relative] = key
        self._tree.digests[relative] = digest
        self._dirty = True

    def _forget(self, path: str) -> None:
        assert self._turn is not None
        self._turn.before.setdefault(path, self._entry(path))
        del self._tree.keys[path], self._tree.digests[path]
        self._dirty = True

    def _entry(self, path: str) -> _Entry | None:
        key = self._tree.keys.get(path)
        return None if key is None else (key[0], self._tree.digests[path], key[1])

    def _keep(self, dir_fd: int, name: str, info: os.stat_result) -> tuple[StatKey, str] | None:
        """Copy a file's content (a symlink's target) into the store: its key and digest."""
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.fsencode(os.readlink(name, dir_fd=dir_fd))
            except OSError:
                return None
            return stat_key(info), self._put(target)
        try:
            fd = os.open(name, _NO_FOLLOW, dir_fd=dir_fd)
        except OSError:
            return None
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                return None
            if opened.st_size > self._limits[2]:
                return stat_key(opened), ""
            if opened.st_size <= _READ_WHOLE:
                return stat_key(opened), self._put(_read_all(fd, opened.st_size))
            return stat_key(opened), self._put_stream(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    # Blobs ------------------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> str:
        return f"{self.directory}/objects/{digest[:2]}/{digest[2:]}"

    def _put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._blob_path(digest)
        if not os.path.exists(path):
            self._make_fanout(digest)
            _write_atomically(path, data, staging=f"{self.directory}/tmp")
            self._state["bytes"] = self._state.get("bytes", 0) + len(data)
        return digest

    def _put_stream(self, fd: int) -> str:
        digest, size = hashlib.sha256(), 0
        temporary = f"{self.directory}/tmp/blob-{os.urandom(8).hex()}"
        with open(temporary, "wb") as out:
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        path = self._blob_path(digest.hexdigest())
        if os.path.exists(path):
            os.unlink(temporary)
        else:
            self._make_fanout(digest.hexdigest())
            os.replace(temporary, path)
            self._state["bytes"] = self._state.get("bytes", 0) + size
        return digest.hexdigest()

    def _make_fanout(self, digest: str) -> None:
        """``objects/<first two hex digits>/``, made once (it is never removed)."""
        if digest[:2] not in self._fanout:
            os.makedirs(f"{self.directory}/objects/{digest[:2]}", exist_ok=True)
            self._fanout.add(digest[:2])

    def _blob(self, digest: str) -> bytes | None:
        """A blob's bytes, checked against its name (a damaged blob is removed)."""
        if not digest:
            return None
        try:
            data = Path(self._blob_path(digest)).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            Path(self._blob_path(digest)).unlink(missing_ok=True)
            return None
        return data

    # Records ----------------------------------------------------------------------------------

    def _record(
        self,
        turn: _OpenTurn,
        commands: tuple[str, ...],
        undoes: int | None,
        unrestored: tuple[str, ...],
    ) -> TurnRecord | None:
        changes = []
        for path, old in sorted(turn.before.items()):
            new = self._entry(path)
            if _content(old) == _content(new) and (new is None or new[1]):
                continue  # back as it was (made and removed, or edited and reverted)
            changes.append(FileChange(path=path, before=_state_of(old), after=_state_of(new)))
        if not changes:
            return None
        return TurnRecord(
            number=turn.number,
            started=turn.started,
            finished=time.time(),
            commands=commands,
            changes=tuple(changes),
            undoes=undoes,
            unrestored=unrestored,
        )

    def _prune(self) -> None:
        """Keep the bound (the module's docstring): drop the oldest turns, then unused blobs."""
        max_bytes, max_turns, _ = self._limits
        turns = self.directory / "turns"
        names = sorted(os.listdir(turns)) if turns.is_dir() else []
        for name in names[: max(0, len(names) - max_turns)]:
            (turns / name).unlink(missing_ok=True)  # their blobs go at the next collection
        names = names[max(0, len(names) - max_turns) :]
        floor = self._state.get("floor", 0)
        if self._state.get("bytes", 0) <= max(max_bytes, floor + max_bytes // 4):
            return
        sizes = _blob_sizes(self.directory / "objects")
        live = set(self._tree.digests.values())
        per_turn = [_record_blobs(turns / name) for name in names]
        while True:
            referenced = live.union(*per_turn)
            total = sum(sizes.get(digest, 0) for digest in referenced)
            if total <= max_bytes * 3 // 4 or len(per_turn) <= 1:
                break
            (turns / names.pop(0)).unlink(missing_ok=True)
            per_turn.pop(0)
        for digest in sizes.keys() - referenced:
            Path(self._blob_path(digest)).unlink(missing_ok=True)
        self._state.update(bytes=total, floor=total)
        _write_atomically(self.directory / "state.json", json.dumps(self._state).encode())

    # Undo -------------------------------------------------------------------------------------

    def _restore(self, targets: dict[str, FileState | None]) -> tuple[str, ...]:
        """Put each path in its target state; the paths that could not be."""
        unrestored: list[str] = []
        root_fd = os.open(self.workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for path, target in sorted(targets.items(), key=lambda item: -item[0].count("/")):
                if target is None and self._entry(path) is not None:
                    _remove(root_fd, path)
            for path, target in sorted(targets.items()):
                current = _state_of(self._entry(path))
                if (
                    target is not None
                    and target != current
                    and not self._write(root_fd, path, target)
                ):
                    unrestored.append(path)
        finally:
            os.close(root_fd)
        return tuple(unrestored)

    def _write(self, root_fd: int, path: str, target: FileState) -> bool:
        data = self._blob(target.blob)
        if data is None:
            return False
        parent, _, name = path.rpartition("/")
        temporary = f".{name}.sa3p-{os.urandom(8).hex()}.tmp"  # hidden like LocalVfs's writes
        try:
            dir_fd = open_directory(root_fd, parent, create=True)
        except OSError:
            return False
        try:
            if target.kind is FileKind.SYMLINK:
                os.symlink(os.fsdecode(data), temporary, dir_fd=dir_fd)
            else:
                fd = os.open(temporary, _CREATE, 0o600, dir_fd=dir_fd)
                try:
                    _write_all(fd, data)
                    os.fchmod(fd, target.mode)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            return _move_into_place(dir_fd, temporary, name)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=dir_fd)
            return False
        finally:
            os.close(dir_fd)


def _move_into_place(dir_fd: int, temporary: str, name: str) -> bool:
    """Rename ``temporary`` to ``name`` (an empty directory in the way is removed)."""
    try:
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except IsADirectoryError:
        os.rmdir(name, dir_fd=dir_fd)  # OSError (not empty) if it holds anything
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    return True


def _remove(root_fd: int, path: str) -> None:
    """Remove the file ``path``, then its parent directories left empty (not the root)."""
    parts = path.split("/")
    for depth in range(len(parts), 0, -1):
        parent = "/".join(parts[: depth - 1])
        try:
            dir_fd = open_directory(root_fd, parent)
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


def _content(entry: _Entry | None) -> tuple[int, str] | None:
    return None if entry is None else (entry[0], entry[1])


def _state_of(entry: _Entry | None) -> FileState | None:
    if entry is None:
        return None
    mode, blob, size = entry
    kind = FileKind.SYMLINK if stat.S_ISLNK(mode) else FileKind.FILE
    return FileState(kind=kind, mode=stat.S_IMODE(mode), size=size, blob=blob)


def _describes(command: str | CommandOutput) -> bool:
    return isinstance(command, str) or not (
        isinstance(command, NoticeOutput) or command.command == "markup"
    )


def _describe(command: str | CommandOutput) -> str:
    if isinstance(command, str):
        return command
    subject = command.subject.strip().splitlines()[0][:200] if command.subject.strip() else ""
    line = f"{command.command} {subject}".rstrip()
    return line if command.ok else f"{line} (failed)"


def _checked_state(state: Any) -> dict[str, Any]:
    """``state.json``'s values, each of the type it should have, or left out (a damaged state
    costs a walk of the workspace, never a wrong record)."""
    types = {"next": int, "bytes": int, "floor": int, "tree": str}
    if not isinstance(state, dict):
        return {}
    checked = {key: value for key, value in state.items() if isinstance(value, types.get(key, ()))}
    opened = state.get("open")
    if isinstance(opened, list) and [type(value) for value in opened] in ([int, float], [int, int]):
        checked["open"] = opened
    return checked


def _record_name(number: int) -> str:
    return f"{number:08d}.json"


def _missing(number: int | None, records: list[TurnRecord]) -> str:
    if not records:
        return "no turn is recorded for this workspace: nothing to undo"
    kept = f"turns {records[0].number}-{records[-1].number} are kept"
    return f"there is no turn {number} ({kept}; older ones are pruned)"


def _encode_record(record: TurnRecord) -> bytes:
    def state(value: FileState | None) -> list[Any] | None:
        return None if value is None else [value.kind, value.mode, value.size, value.blob]

    changes = [[c.path, state(c.before), state(c.after)] for c in record.changes]
    fields = {
        "number": record.number,
        "started": record.started,
        "finished": record.finished,
        "commands": list(record.commands),
        "changes": changes,
        "undoes": record.undoes,
        "unrestored": list(record.unrestored),
    }
    return json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogateescape")


def _read_record(path: Path) -> TurnRecord | None:
    """A turn's record; None if it is unreadable (a damaged file hides one turn, no more)."""

    def state(value: list[Any] | None) -> FileState | None:
        if value is None:
            return None
        kind, mode, size, blob = value
        return FileState(kind=FileKind(kind), mode=mode, size=size, blob=blob)

    try:
        fields = json.loads(path.read_bytes().decode("utf-8", "surrogateescape"))
        changes = tuple(
            FileChange(path=p, before=state(b), after=state(a)) for p, b, a in fields["changes"]
        )
        return TurnRecord(
            number=fields["number"],
            started=fields["started"],
            finished=fields["finished"],
            commands=tuple(fields["commands"]),
            changes=changes,
            undoes=fields["undoes"],
            unrestored=tuple(fields["unrestored"]),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _record_blobs(path: Path) -> set[str]:
    record = _read_record(path)
    states = [s for c in record.changes for s in (c.before, c.after)] if record else []
    return {s.blob for s in states if s is not None and s.blob}


def _blob_sizes(objects: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for directory in os.scandir(objects) if objects.is_dir() else ():
        for entry in os.scandir(directory.path):
            with contextlib.suppress(OSError):
                sizes[directory.name + entry.name] = entry.stat().st_size
    return sizes


def _create_store(directory: Path, workspace: str) -> None:
    """Make the store (0700, in a private ``sa3p`` directory); remove the stores of
    workspaces that no longer exist."""
    root = directory.parent.parent
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise CheckpointError(f"{root} is not a private directory of this user; remove it")
    directory.parent.mkdir(mode=0o700, exist_ok=True)
    for sibling in directory.parent.iterdir():
        with contextlib.suppress(OSError):
            if not os.path.isdir((sibling / "workspace").read_text("utf-8", "surrogateescape")):
                shutil.rmtree(sibling)
    for name in ("", "objects", "turns", "tmp"):
        (directory / name).mkdir(mode=0o700, exist_ok=True)
    _write_atomically(directory / "workspace", workspace.encode("utf-8", "surrogateescape"))


def _write_atomically(target: str | Path, data: bytes, *, staging: str | None = None) -> None:
    """Write ``data`` to ``target`` through a temporary file (beside it, or in ``staging``)
    and a rename."""
    directory, name = os.path.split(target)
    temporary = f"{staging or directory}/.{name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(temporary, _CREATE, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(temporary, target)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int, size: int) -> bytes:
    """Everything ``fd`` holds: one read when it is still ``size`` bytes long."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, 1 << 20))
    return chunks[0] if len(chunks) == 2 else b"".join(chunks)
