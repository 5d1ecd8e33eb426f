"""``apply_edit``: every edit of one command applies, in order, or none does.

The file is read once, checked against ``expected_sha256`` (stale-file detection), decoded as
UTF-8, edited in memory edit by edit (each sees the result of the ones before it), and written
back through one atomic writer. Nothing is written unless every edit found its place.
Replacement text is literal: ``$&``, ``\\1`` and ``\\g<0>`` stay as written. A search/replace
pair replaces the text it matched (``expected_replacements`` times); a diff hunk changes only its
``-`` and ``+`` lines (see ``_diff_hunks``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from sa3p_engine._attributes import (
    AttributeProblem,
    optional_int,
    required_path,
    sha256_attribute,
)
from sa3p_engine._backend import FileStat
from sa3p_engine._diff_hunks import Hunk, apply_hunk
from sa3p_engine._edit_diff import render_diff
from sa3p_engine._edit_formats import BodyPart, Edit, EditPair, parse_edit_body
from sa3p_engine._edit_tiers import Match, MatchFailure, find_matches, line_of, split_lines
from sa3p_engine._effects import Confirm, Routine, Stat, go_ahead, write_whole
from sa3p_engine._limits import Limits
from sa3p_engine._output_codes import OutputCode
from sa3p_engine._outputs import ApplyEditOutput, CommandOutput, EditReport, shown_hash
from sa3p_engine._read_file import read_blocks

__all__ = ["cap_diff", "decode_text", "read_whole", "run_apply_edit"]

DIFF_CONTEXT = 2
"""Unchanged lines shown around each change in a result's diff."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    text: str


@dataclass(frozen=True, slots=True)
class _Applied:
    content: str
    report: EditReport
    diff: str


def _failed(path: str, message: str, code: OutputCode) -> CommandOutput:
    return CommandOutput(command="apply_edit", ok=False, error=message, subject=path, code=code)


def run_apply_edit(
    attributes: Mapping[str, str],
    parts: list[BodyPart],
    limits: Limits,
    confirm: Confirm = go_ahead,
) -> Routine[CommandOutput]:
    """Run one ``apply_edit`` command (backend errors propagate to the engine).

    ``confirm`` is asked with the diff once every edit found its place, before the write.
    """
    path = required_path("apply_edit", attributes)
    if isinstance(path, AttributeProblem):
        return _failed("", path.message, path.code)
    expected = sha256_attribute(attributes)
    count = optional_int("apply_edit", attributes, "expected_replacements", minimum=1)
    for problem in (expected, count):
        if isinstance(problem, AttributeProblem):
            return _failed(path, problem.message, problem.code)
    assert not isinstance(expected, AttributeProblem) and not isinstance(count, AttributeProblem)
    edits = parse_edit_body(parts, path)
    if isinstance(edits, str):
        return _failed(path, edits, OutputCode.BAD_EDIT)
    if count not in (None, 1) and any(isinstance(edit, Hunk) for edit in edits):
        return _failed(
            path,
            f'expected_replacements="{count}" applies to search/replace edits, not to diff '
            f"hunks (a hunk changes one place)",
            OutputCode.BAD_EDIT,
        )
    loaded = yield from _load(path, expected, limits)
    if isinstance(loaded, MatchFailure):
        return _failed(path, loaded.reason, loaded.code)
    edited = _edit(path, loaded.text, edits, count or 1, limits)
    if isinstance(edited, CommandOutput):
        return edited
    content, reports, diff = edited
    refusal = yield from confirm(diff)
    if refusal is not None:
        return refusal
    receipt = yield from write_whole(path, content.encode("utf-8"))
    return ApplyEditOutput(
        command="apply_edit",
        ok=True,
        subject=path,
        path=path,
        edits=tuple(reports),
        sha256=receipt.sha256,
        diff=diff,
    )


def decode_text(path: str, data: bytes) -> str:
    """``data`` as UTF-8 text; raises ``ValueError`` with the sentence for the model."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {error.start}); use write_file to replace it"
        ) from None


def read_whole(path: str, stat: FileStat, limits: Limits) -> Routine[bytes | MatchFailure]:
    """The file's bytes, or why not when it is too large to edit (``TOO_LARGE``)."""
    if stat.size > limits.edit_max_bytes:
        return MatchFailure(
            f"{path} is larger than {limits.edit_max_bytes} bytes; use write_file instead",
            OutputCode.TOO_LARGE,
        )
    blocks: list[bytes] = []
    yield from read_blocks(path, limits.read_block_bytes, blocks.append)
    return b"".join(blocks)


def _load(path: str, expected: str | None, limits: Limits) -> Routine[_Loaded | MatchFailure]:
    """The file's text, or why it cannot be edited. ``expected`` may be a prefix of the hash."""
    stat: FileStat = yield Stat(path)
    data = yield from read_whole(path, stat, limits)
    if isinstance(data, MatchFailure):
        return data
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and not digest.startswith(expected):
        return MatchFailure(
            f"stale file: its sha256 is now {shown_hash(digest)}, not the expected "
            f"{shown_hash(expected)}; it changed since you read it, so read_file it again and "
            f"redo the edit",
            OutputCode.STALE_HASH,
        )
    try:
        return _Loaded(decode_text(path, data))
    except ValueError as error:
        return MatchFailure(str(error), OutputCode.NOT_UTF8)


def _edit(
    path: str, content: str, edits: list[Edit], count: int, limits: Limits
) -> CommandOutput | tuple[str, list[EditReport], str]:
    """The edited content, a report per edit and the diff; or the failure."""
    reports: list[EditReport] = []
    diffs: list[str] = []
    for index, edit in enumerate(edits, start=1):
        if isinstance(edit, EditPair):
            applied = _apply_pair(content, edit, index, count)
        else:
            applied = _apply_hunk(content, edit, index)
        if isinstance(applied, MatchFailure):
            prefix = f"edit {index} of {len(edits)}: " if len(edits) > 1 else ""
            rest = " No edit was applied (all edits of one apply_edit apply or none do)."
            message = f"{prefix}{applied.reason}.{rest if len(edits) > 1 else ''}"
            return _failed(path, message, applied.code)
        content = applied.content
        reports.append(applied.report)
        diffs.append(applied.diff)
    return content, reports, cap_diff(diffs, limits.diff_max_lines)


def cap_diff(diffs: list[str], max_lines: int) -> str:
    """The diffs joined, at most ``max_lines`` lines (the rest counted)."""
    lines = "\n".join(diff for diff in diffs if diff).split("\n")
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], f"… {len(lines) - max_lines + 1} more diff lines"]
    return "\n".join(lines).strip("\n")


def _apply_pair(content: str, pair: EditPair, index: int, count: int) -> _Applied | MatchFailure:
    if not pair.search.strip():
        return MatchFailure(
            "the search text is empty; quote the lines to change in <search>", OutputCode.BAD_EDIT
        )
    if pair.search == pair.replace:
        return MatchFailure(
            "the search and replace texts are identical; nothing would change",
            OutputCode.BAD_EDIT,
        )
    found = find_matches(content, pair.search, pair.replace, expected=count)
    if isinstance(found, MatchFailure):
        return found
    pieces: list[str] = []
    ranges: list[tuple[int, str]] = []
    diffs: list[str] = []
    done = 0
    shift = 0
    for match in found:
        pieces += [content[done : match.start], match.new_text]
        done = match.end
        ranges.append((match.start + shift, match.new_text))
        diffs.append(_match_diff(content, match))
        shift += len(match.new_text) - (match.end - match.start)
    new_content = "".join([*pieces, content[done:]])
    new_ranges = [_new_range(new_content, start, text) for start, text in ranges]
    report = EditReport(
        index=index,
        tier=found[0].tier,
        similarity=round(found[0].similarity, 4),
        start_line=new_ranges[0][0],
        end_line=new_ranges[0][1],
        ranges=tuple(new_ranges),
    )
    return _Applied(new_content, report, "\n".join(diffs))


def _new_range(new_content: str, start: int, new_text: str) -> tuple[int, int]:
    """The lines ``new_text`` occupies once placed at ``start`` (end = start - 1 when empty)."""
    first = line_of(new_content, start)
    span = new_text.count("\n") - (1 if new_text.endswith("\n") else 0)
    return (first, first + span) if new_text else (first, first - 1)


def _match_diff(content: str, match: Match) -> str:
    """The diff of the whole lines a match touched, with context."""
    head = _line_start(content, match.start, DIFF_CONTEXT)
    old_tail = _line_end(content, max(match.end - 1, match.start), DIFF_CONTEXT)
    old = content[head:old_tail]
    new = content[head : match.start] + match.new_text + content[match.end : old_tail]
    return render_diff(
        split_lines(old), split_lines(new), first_line=line_of(content, head), max_lines=10**9
    )


def _line_start(content: str, offset: int, back: int) -> int:
    """The start of the line ``back`` lines above the one holding ``offset``."""
    start = content.rfind("\n", 0, offset) + 1
    for _ in range(back):
        if start == 0:
            break
        start = content.rfind("\n", 0, start - 1) + 1
    return start


def _line_end(content: str, offset: int, forward: int) -> int:
    """The end (after its newline) of the line ``forward`` lines below the one at ``offset``."""
    end = offset
    for _ in range(forward + 1):
        newline = content.find("\n", end)
        if newline < 0:
            return len(content)
        end = newline + 1
    return end


def _apply_hunk(content: str, hunk: Hunk, index: int) -> _Applied | MatchFailure:
    lines = split_lines(content)
    result = apply_hunk(lines, hunk, fuzzy=True, reindent=True)
    if isinstance(result, MatchFailure):
        return result
    low = max(result.start - DIFF_CONTEXT - 1, 0)
    old_high = result.start + len(hunk.old) + DIFF_CONTEXT
    new_high = result.end + DIFF_CONTEXT
    diff = render_diff(
        lines[low:old_high], result.lines[low:new_high], first_line=low + 1, max_lines=10**9
    )
    report = EditReport(
        index=index,
        tier=result.tier,
        similarity=round(result.similarity, 4),
        start_line=result.start + 1,
        end_line=result.end,
    )
    return _Applied("".join(result.lines), report, diff)
