"""``apply_patch``: a V4A patch applies to every file it names, or to none.

Two phases. **Plan**: every file the patch touches is read once (``Stat`` then ``Read``) and its
new content computed in memory, operation by operation (a later operation sees the earlier ones'
results, so "delete then add" replaces a file). Any problem — a chunk that matches no place or
several, an Add onto an existing file, a Move onto one, a missing file — refuses the patch
before anything is written. **Commit**: the new contents are written (atomically, one file at a
time), then the removed files removed. If a backend fails midway, the files already changed get
their old content back (or are removed again) and the result says so, naming any file whose
restore failed too.

Chunks are located by ``_diff_hunks`` with the line tiers only (no fuzzy tier) and without
re-indenting: the tiers locate, they never change the bytes written. Each chunk is looked for
after the previous chunk of the same file. A file's line endings and final newline are kept.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field

from sa3p_engine._apply_edit import cap_diff, decode_text, read_whole
from sa3p_engine._backend import ErrorCode, FileStat, FileSystemError, NodeKind
from sa3p_engine._commands import describe_failure
from sa3p_engine._diff_hunks import HunkResult, apply_hunk
from sa3p_engine._edit_diff import render_diff
from sa3p_engine._edit_tiers import MatchFailure, split_lines
from sa3p_engine._effects import Confirm, Remove, Routine, Stat, go_ahead, write_whole
from sa3p_engine._limits import Limits
from sa3p_engine._output_codes import OutputCode, failure_code
from sa3p_engine._outputs import (
    ApplyPatchOutput,
    CommandOutput,
    EditReport,
    PatchAction,
    PatchFileReport,
)
from sa3p_engine._patch_format import (
    AddFile,
    DeleteFile,
    PatchOperation,
    PatchProblem,
    UpdateFile,
    parse_patch,
)

__all__ = ["patch_paths", "read_patch", "run_apply_patch"]

_NOTHING_CHANGED = " Nothing was changed (a patch applies whole or not at all)."


def _failed(message: str, code: OutputCode) -> CommandOutput:
    return CommandOutput(command="apply_patch", ok=False, error=message, code=code)


@dataclass(slots=True)
class _File:
    """One file of the plan: its content before the patch and after the operations so far.

    ``before`` is what its diff compares with: ``original``, or for a move's destination the
    source's original content.
    """

    path: str
    original: bytes | None
    data: bytes | None
    before: bytes | None = None
    moved_from: str | None = None
    chunks: list[EditReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.data != self.original


def read_patch(body: bytes) -> tuple[PatchOperation, ...] | MatchFailure:
    """The operations of an ``apply_patch`` body, or why it cannot be applied."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return MatchFailure(
            f"the patch is not valid UTF-8 (byte {error.start} of its body)", OutputCode.NOT_UTF8
        )
    operations = parse_patch(text)
    if isinstance(operations, PatchProblem):
        return MatchFailure(f"{operations}.{_NOTHING_CHANGED}", OutputCode.BAD_PATCH)
    if not operations:
        return MatchFailure(
            f"the patch has no operations between {'*** Begin Patch'} and its end",
            OutputCode.BAD_PATCH,
        )
    return operations


def patch_paths(operation: PatchOperation) -> tuple[str, ...]:
    """Every path ``operation`` touches (a move: its source and its destination)."""
    if isinstance(operation, UpdateFile) and operation.move_to is not None:
        return (operation.path, operation.move_to)
    return (operation.path,)


def run_apply_patch(
    patch: tuple[PatchOperation, ...] | MatchFailure, limits: Limits, confirm: Confirm = go_ahead
) -> Routine[CommandOutput]:
    """Run one ``apply_patch`` command (backend errors while planning propagate).

    Args:
        patch: ``read_patch``'s result.
        limits: the engine's limits.
        confirm: asked with the diff once every file is planned, before anything is written.
    """
    if isinstance(patch, MatchFailure):
        return _failed(patch.reason, patch.code)
    plan = _Plan(limits)
    for operation in patch:
        problem = yield from plan.apply(operation)
        if problem is not None:
            where = f"line {operation.body_line} of the patch ({_title(operation)})"
            return _failed(f"{where}: {problem.reason}.{_NOTHING_CHANGED}", problem.code)
    refusal = yield from confirm(_diffs(_changed(plan), limits))
    if refusal is not None:
        return refusal
    return (yield from _commit(plan))


def _changed(plan: _Plan) -> list[_File]:
    """The plan's files in commit order, without the sources of moves (as ``_commit`` reports)."""
    entries = [*plan.writes(), *plan.removals()]
    return [entry for entry in entries if not _moved_away(entry, entries)]


def _title(operation: PatchOperation) -> str:
    match operation:
        case AddFile(path=path):
            return f"*** Add File: {path}"
        case DeleteFile(path=path):
            return f"*** Delete File: {path}"
        case UpdateFile(path=path):
            return f"*** Update File: {path}"


def _key(path: str) -> str:
    """One spelling per file: ``./a.py`` and ``a.py`` are the same file of the plan."""
    return posixpath.normpath(path.strip().replace("\\", "/"))


class _Plan:
    """The new content of every file the patch touches, computed before anything is written."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.files: dict[str, _File] = {}

    def apply(self, operation: PatchOperation) -> Routine[MatchFailure | None]:
        """Apply ``operation`` to the plan; a problem refuses the whole patch."""
        current = yield from self._file(operation.path)
        if isinstance(current, MatchFailure):
            return current
        match operation:
            case AddFile():
                if current.data is not None:
                    return MatchFailure(
                        f"{operation.path} already exists; use *** Update File, or "
                        f"*** Delete File: {operation.path} before adding it",
                        OutputCode.BAD_PATCH,
                    )
                current.data = operation.content.encode("utf-8")
                return None
            case DeleteFile():
                if current.data is None:
                    return MatchFailure(f"{operation.path} does not exist", OutputCode.NOT_FOUND)
                current.data = None
                return None
            case UpdateFile():
                return (yield from self._update(operation, current))

    def _update(self, operation: UpdateFile, current: _File) -> Routine[MatchFailure | None]:
        if current.data is None:
            return MatchFailure(
                f"{operation.path} does not exist (use *** Add File to create it)",
                OutputCode.NOT_FOUND,
            )
        try:
            text = decode_text(operation.path, current.data)
        except ValueError as error:
            return MatchFailure(str(error), OutputCode.NOT_UTF8)
        lines = split_lines(text)
        reports: list[EditReport] = []
        begin = 0
        for index, hunk in enumerate(operation.hunks, start=1):
            result = apply_hunk(lines, hunk, fuzzy=False, reindent=False, begin=begin)
            if isinstance(result, MatchFailure):
                total = len(operation.hunks)
                where = f"chunk {index} of {total} (line {hunk.body_line})"
                return MatchFailure(f"{where}: {result.reason}", result.code)
            lines, begin = result.lines, result.end
            reports.append(_report(index, result))
        new = "".join(lines).encode("utf-8")
        target = current
        if operation.move_to is not None and _key(operation.move_to) != _key(operation.path):
            found = yield from self._file(operation.move_to)
            if isinstance(found, MatchFailure):
                return found
            if found.data is not None:
                return MatchFailure(
                    f"*** Move to: {operation.move_to} exists; delete it first in the patch "
                    f"(*** Delete File: {operation.move_to}) to replace it",
                    OutputCode.BAD_PATCH,
                )
            target, current.data = found, None
            target.moved_from = current.moved_from or operation.path
            target.before = current.before
        target.data = new
        target.chunks += reports
        return None

    def _file(self, path: str) -> Routine[_File | MatchFailure]:
        """The plan's entry for ``path``, read from the backend when first needed."""
        key = _key(path)
        known = self.files.get(key)
        if known is not None:
            return known
        try:
            stat: FileStat = yield Stat(path)
        except FileSystemError as error:
            if error.code is not ErrorCode.NOT_FOUND:
                raise
            entry = _File(path=path, original=None, data=None)
        else:
            if stat.kind is NodeKind.DIRECTORY:
                return MatchFailure(f"{path} is a directory", OutputCode.IS_A_DIRECTORY)
            data = yield from read_whole(path, stat, self.limits)
            if isinstance(data, MatchFailure):
                return data
            entry = _File(path=path, original=data, data=data, before=data)
        self.files[key] = entry
        return entry

    def writes(self) -> Iterator[_File]:
        return (f for f in self.files.values() if f.changed and f.data is not None)

    def removals(self) -> Iterator[_File]:
        return (f for f in self.files.values() if f.changed and f.data is None)


def _report(index: int, result: HunkResult) -> EditReport:
    return EditReport(
        index=index,
        tier=result.tier,
        similarity=1.0,
        start_line=result.start + 1,
        end_line=result.end,
    )


# --- commit -----------------------------------------------------------------------------------


def _commit(plan: _Plan) -> Routine[CommandOutput]:
    """Write every new content, then remove every removed file; undo all on a failure."""
    done: list[_File] = []
    digests: dict[str, str] = {}
    steps = [*((f, False) for f in plan.writes()), *((f, True) for f in plan.removals())]
    for entry, removing in steps:
        try:
            if removing:
                yield Remove(entry.path)
            else:
                assert entry.data is not None
                receipt = yield from write_whole(entry.path, entry.data)
                digests[entry.path] = receipt.sha256
        except Exception as error:
            verb = "removing" if removing else "writing"
            undone = yield from _restore(done)
            message = f"{verb} {entry.path} failed: {describe_failure(error)}; {undone}"
            return _failed(message, failure_code(error))
        done.append(entry)
    reports = [_file_report(entry, digests) for entry in done if not _moved_away(entry, done)]
    return ApplyPatchOutput(
        command="apply_patch",
        ok=True,
        files=tuple(reports),
        diff=_diffs([entry for entry in done if not _moved_away(entry, done)], plan.limits),
    )


def _restore(done: list[_File]) -> Routine[str]:
    """Give every file already changed its old content back; say what happened."""
    failures: list[str] = []
    for entry in reversed(done):
        try:
            if entry.original is None:
                yield Remove(entry.path)
            else:
                yield from write_whole(entry.path, entry.original)
        except Exception as error:
            failures.append(f"{entry.path} ({describe_failure(error)})")
    if not done:
        return "nothing was changed"
    names = ", ".join(entry.path for entry in done)
    if not failures:
        return f"the files already changed ({names}) were restored, so nothing was changed"
    return (
        f"restoring failed for {', '.join(failures)}: those files keep the patch's version; "
        f"the other files already changed were restored"
    )


def _moved_away(entry: _File, done: list[_File]) -> bool:
    """A removed file that is the source of a move (its destination reports the move)."""
    key = _key(entry.path)
    return entry.data is None and any(
        other.moved_from is not None and _key(other.moved_from) == key for other in done
    )


def _file_report(entry: _File, digests: dict[str, str]) -> PatchFileReport:
    if entry.data is None:
        action = PatchAction.DELETED
    elif entry.moved_from is not None:
        action = PatchAction.MOVED
    elif entry.original is None:
        action = PatchAction.ADDED
    else:
        action = PatchAction.UPDATED
    return PatchFileReport(
        path=entry.path,
        action=action,
        moved_from=entry.moved_from,
        sha256=digests.get(entry.path, ""),
        chunks=tuple(entry.chunks),
    )


def _diffs(entries: list[_File], limits: Limits) -> str:
    """The files' diffs, computed only while they fit in ``diff_max_lines``."""
    diffs: list[str] = []
    shown = 0
    for entry in entries:
        if shown >= limits.diff_max_lines:
            break
        diffs.append(_file_diff(entry))
        shown += diffs[-1].count("\n") + 1
    capped = cap_diff(diffs, limits.diff_max_lines)
    rest = len(entries) - len(diffs)
    return f"{capped}\n… the diffs of {rest} more files are not shown" if rest else capped


def _file_diff(entry: _File) -> str:
    if entry.data is None:
        return f"--- {entry.path} (deleted, {len(_lines(entry.original))} lines)"
    source = entry.moved_from or (entry.path if entry.before is not None else "/dev/null")
    diff = render_diff(_lines(entry.before), _lines(entry.data), max_lines=10**9)
    return "\n".join([f"--- {source}", f"+++ {entry.path}", diff])


def _lines(data: bytes | None) -> list[str]:
    return split_lines(data.decode("utf-8", "replace")) if data else []
