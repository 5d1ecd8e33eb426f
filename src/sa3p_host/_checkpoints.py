"""Checkpoints: what each turn changed in a workspace, whoever changed it, and undo.

A store per workspace, outside it: ``$XDG_STATE_HOME/sa3p/workspaces/<key>/`` (default
``~/.local/state``; ``<key>``: the first 20 hex digits of the sha256 of the workspace's real
path, as sessions key theirs), private (0700), hidden from the bubblewrap sandbox with the
home directory::

    workspace     the workspace's real path (a store whose workspace is gone is removed)
    lock          flock: one turn at a time (begin_turn … end_turn, undo)
    state.json    the next turn's number, the bytes of blobs, the turn now open
    tree          the workspace as last scanned (``_workspace_tree.Tree``): path → stat key,
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
import dataclasses
import enum
import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sa3p_engine import CommandOutput, NoticeOutput, ProblemOutput
from sa3p_host._local._atomic_writes import _write_all
from sa3p_host._local._regular_files import READ_FLAGS
from sa3p_host._workspace_tree import (
    Entry,
    StatKey,
    Tree,
    TreeTracker,
    remove_file,
    stat_key,
    write_back,
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
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
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
        files = f"{len(self.changes)} file{'s' if len(self.changes) != 1 else ''} changed"
        lines = [f"turn {self.number}  {when}  {files}{undo}"]
        lines += [f"  ran       {command}" for command in self.commands]
        lines += [f"  {change.kind:<9} {change.path}" for change in self.changes]
        lines += [f"  not restored (content not kept, or in the way): {p}" for p in self.unrestored]
        return "\n".join(lines)


def store_directory(workspace: str | os.PathLike[str], state_home: str | None = None) -> Path:
    """Where ``workspace``'s checkpoints live (not created)."""
    real = os.path.realpath(workspace)
    key = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    base = state_home or os.environ.get("XDG_STATE_HOME") or ""
    if not os.path.isabs(base):  # XDG: a relative or empty value is ignored
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base, "sa3p", "workspaces", key)


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
        store = os.path.relpath(os.path.realpath(self.directory.parent.parent), self.workspace)
        inside = not store.startswith("..") and store != "."
        skipped = frozenset([store] if inside else [])
        self._tracker = TreeTracker(self.workspace, self._keep, skipped=skipped)
        self._tree_token: str | None = None  # names the saved tree the tracker's is
        self._state: dict[str, Any] = {}
        self._turn: tuple[int, float] | None = None  # the open turn: number, start
        self._lock_fd: int | None = None
        self._fanout: set[str] = set()
        self._hidden: set[str] | None = None  # what git left out when the turn began

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop watching; give up an open turn (recorded at the next ``begin_turn``)."""
        self._tracker.stop_watching()
        self._release()

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
            lines = tuple(line for line in map(_describe, commands) if line is not None)
            return self._end(lines)
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
            The undo's record (its ``unrestored`` paths could not be put back: content not
            kept, damaged, or a directory in the way); None if every file was already as it was.

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
                self._save()
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

    # Turns ------------------------------------------------------------------------------------

    def _acquire(self, wait: bool) -> None:
        if not (self.directory / "workspace").exists():  # written last: the store is whole
            _create_store(self.directory, self.workspace)
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise WorkspaceBusy(
                f"another sa3p run (or turn) is using {self.workspace}; try when it ends"
            ) from None
        self._lock_fd = fd

    def _release(self) -> None:
        self._turn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _abandon(self) -> None:
        """After a failure: the tracker's tree may be ahead of the saved one; read that again
        (the turn left open is then recorded from it at the next ``begin_turn``)."""
        self._tracker.stop_watching()
        self._tree_token = None
        self._release()

    def _begin(self) -> None:
        for name in os.listdir(self.directory / "tmp"):  # what a crash left half written
            os.unlink(self.directory / "tmp" / name)
        self._load()
        tracker = self._tracker
        tracker.before.clear()
        opened = self._state.get("open")
        if opened and not (self.directory / "turns" / _record_name(opened[0])).exists():
            self._turn, self._hidden = (opened[0], opened[1]), None
            self._end((_INTERRUPTED,))  # a turn a crash left open
            tracker.before.clear()
        numbers = [name.partition(".")[0] for name in os.listdir(self.directory / "turns")]
        newest = max((int(number) for number in numbers if number.isdigit()), default=0)
        self._turn = (max(self._state.get("next", 1), newest + 1), time.time())  # never reused
        tracker.catch_up()
        self._state["open"] = list(self._turn)
        # The tree is saved now only if contents changed since the last turn (so that a turn a
        # crash leaves open is measured from its true start); stat keys alone can wait.
        changed = (_content(old) != _content(tracker.entry(p)) for p, old in tracker.before.items())
        self._save(tree=any(changed))
        tracker.before.clear()
        self._hidden = tracker.hidden

    def _end(
        self,
        commands: tuple[str, ...],
        *,
        undoes: int | None = None,
        unrestored: tuple[str, ...] = (),
    ) -> TurnRecord | None:
        assert self._turn is not None
        number, started = self._turn
        self._tracker.catch_up()
        changes = self._changes(started)
        record = None
        if changes or unrestored:  # an undo that failed somewhere is recorded, to say where
            record = TurnRecord(
                number=number,
                started=started,
                finished=time.time(),
                commands=commands,
                changes=changes,
                undoes=undoes,
                unrestored=unrestored,
            )
            _write_atomically(self.directory, f"turns/{_record_name(number)}", _encode(record))
            self._state["next"] = number + 1
        self._state["open"] = None
        self._save(tree=True)
        self._prune()
        return record

    def _changes(self, started: float) -> tuple[FileChange, ...]:
        """Each path the turn changed, unless it is back as it was (made and removed, edited
        and reverted) or only came into or out of view."""
        changes = []
        for path, old in sorted(self._tracker.before.items()):
            new = self._tracker.entry(path)
            if _content(old) == _content(new) and (new is None or new[1]):
                continue
            if (old is None) != (new is None) and self._only_seen(path, new is None, started):
                continue
            changes.append(FileChange(path=path, before=_state_of(old), after=_state_of(new)))
        return tuple(changes)

    def _only_seen(self, path: str, gone: bool, started: float) -> bool:
        """Whether ``path`` appeared (``gone`` False) or disappeared without the turn making or
        removing it: it was ignored (or untracked) and no longer is, or the other way round,
        and its inode has not changed since the turn began. An undo must not remove such a
        file. The kernel's clock may lag by a tick: a file made just then counts as older."""
        key = self._tracker.tree.keys.get(path)
        try:
            ctime = key[4] if key is not None else os.lstat(f"{self.workspace}/{path}").st_ctime_ns
        except OSError:
            return False  # removed indeed
        if ctime >= int(started * 1e9):
            return False
        if gone or self._hidden is None:  # None: a crashed turn's, unknown; keep the file
            return True  # still there, unchanged: now ignored or untracked
        ancestors = [path]
        while "/" in ancestors[-1]:
            ancestors.append(ancestors[-1].rpartition("/")[0])
        return any(name in self._hidden for name in ancestors)  # hidden when the turn began

    def _load(self) -> None:
        """The state and, if another process saved it since, the tree."""
        try:
            self._state = _checked_state(json.loads((self.directory / "state.json").read_bytes()))
        except (OSError, ValueError):
            self._state = {}
        token = self._state.get("tree")
        if token is None or token != self._tree_token:
            try:
                self._tracker.replace(Tree.decode((self.directory / "tree").read_bytes()))
            except FileNotFoundError:
                self._tracker.replace(Tree())
            self._tree_token = token

    def _save(self, *, tree: bool = False) -> None:
        token = os.urandom(8).hex() if tree and self._tracker.dirty else None
        if token is not None:
            _write_atomically(self.directory, "tree", self._tracker.tree.encode())
            self._state["tree"] = token
        _write_atomically(self.directory, "state.json", json.dumps(self._state).encode())
        if token is not None:
            self._tree_token, self._tracker.dirty = token, False

    # Blobs ------------------------------------------------------------------------------------

    def _keep(self, dir_fd: int, name: str, info: os.stat_result) -> tuple[StatKey, str] | None:
        """Copy a file's content (a symlink's target) into the store: its key and digest."""
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.fsencode(os.readlink(name, dir_fd=dir_fd))
            except OSError:
                return None
            return stat_key(info), self._put(target)
        try:
            fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)  # never blocks, never a link
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

    def _blob_path(self, digest: str) -> str:
        return f"{self.directory}/objects/{digest[:2]}/{digest[2:]}"

    def _put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._blob_path(digest)
        if not os.path.exists(path):
            self._make_fanout(digest)
            _write_atomically(self.directory, f"objects/{digest[:2]}/{digest[2:]}", data)
            self._state["bytes"] = self._state.get("bytes", 0) + len(data)
        return digest

    def _put_stream(self, fd: int) -> str:
        digest, size = hashlib.sha256(), 0
        temporary = f"{self.directory}/tmp/{os.urandom(8).hex()}"
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
        path = Path(self._blob_path(digest))
        try:
            data = path.read_bytes() if digest else None
        except OSError:
            return None
        if data is not None and hashlib.sha256(data).hexdigest() != digest:
            path.unlink(missing_ok=True)
            return None
        return data

    def _prune(self) -> None:
        """Keep the bound (the module's docstring): drop the oldest turns, then unused blobs."""
        max_bytes, max_turns, _ = self._limits
        turns = self.directory / "turns"
        names = sorted(name for name in os.listdir(turns) if name.endswith(".json"))
        for name in names[: max(0, len(names) - max_turns)]:
            (turns / name).unlink(missing_ok=True)  # their blobs go at the next collection
        names = names[max(0, len(names) - max_turns) :]
        if self._state.get("bytes", 0) <= max(
            max_bytes, self._state.get("floor", 0) + max_bytes // 4
        ):
            return
        sizes = _blob_sizes(self.directory / "objects")
        live = set(self._tracker.tree.digests.values())
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
        self._save()

    def _restore(self, targets: dict[str, FileState | None]) -> tuple[str, ...]:
        """Put each path in its target state; the paths that could not be."""
        unrestored: list[str] = []
        root_fd = os.open(self.workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for path, target in sorted(targets.items(), key=lambda item: -item[0].count("/")):
                if target is None and self._tracker.entry(path) is not None:
                    remove_file(root_fd, path)  # deepest first: directories left empty go too
            for path, target in sorted(targets.items()):
                if target is None or target == _state_of(self._tracker.entry(path)):
                    continue
                data = self._blob(target.blob)
                link = target.kind is FileKind.SYMLINK
                if data is None or not write_back(root_fd, path, data, mode=target.mode, link=link):
                    unrestored.append(path)
        finally:
            os.close(root_fd)
        return tuple(unrestored)


def _content(entry: Entry | None) -> tuple[int, str] | None:
    return None if entry is None else (entry[0], entry[1])


def _state_of(entry: Entry | None) -> FileState | None:
    if entry is None:
        return None
    mode, blob, size = entry
    kind = FileKind.SYMLINK if stat.S_ISLNK(mode) else FileKind.FILE
    return FileState(kind=kind, mode=stat.S_IMODE(mode), size=size, blob=blob)


def _describe(command: str | CommandOutput) -> str | None:
    """One line for a command the turn ran (None: a notice, not a command)."""
    if isinstance(command, str):
        return command
    if isinstance(command, (NoticeOutput, ProblemOutput)):  # markup, or a notice: not a command
        return None
    subject = (command.subject.strip().splitlines() or [""])[0][:200]
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


def _encode(record: TurnRecord) -> bytes:
    fields = json.dumps(dataclasses.asdict(record), ensure_ascii=False)
    return fields.encode("utf-8", "surrogateescape")


def _read_record(path: Path) -> TurnRecord | None:
    """A turn's record; None if it is unreadable (a damaged file hides one turn, no more)."""

    def state(value: dict[str, Any] | None) -> FileState | None:
        return None if value is None else FileState(**{**value, "kind": FileKind(value["kind"])})

    try:
        fields = json.loads(path.read_bytes().decode("utf-8", "surrogateescape"))
        changes = tuple(
            FileChange(path=c["path"], before=state(c["before"]), after=state(c["after"]))
            for c in fields.pop("changes")
        )
        commands, unrestored = tuple(fields.pop("commands")), tuple(fields.pop("unrestored"))
        return TurnRecord(**fields, commands=commands, unrestored=unrestored, changes=changes)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
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
    _write_atomically(directory, "workspace", workspace.encode("utf-8", "surrogateescape"))


def _write_atomically(store: Path, name: str, data: bytes) -> None:
    """Write ``data`` to the file ``name`` of ``store`` through a temporary file in its
    ``tmp/`` (emptied at each turn's start: a crash leaves nothing elsewhere) and a rename."""
    temporary = f"{store}/tmp/{os.urandom(8).hex()}"
    fd = os.open(temporary, _CREATE, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(temporary, f"{store}/{name}")


def _read_all(fd: int, size: int) -> bytes:
    """Everything ``fd`` holds: one read when it is still ``size`` bytes long."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, 1 << 20))
    return chunks[0] if len(chunks) == 2 else b"".join(chunks)
