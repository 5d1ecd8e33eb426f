"""``apply_edit``: every pair of one command applies, in order, or none does.

The file is read once, checked against ``expected_sha256`` (stale-file detection), decoded as
UTF-8, edited in memory pair by pair (each pair sees the result of the ones before it), and
written back through one atomic writer. Nothing is written unless every pair found its unique
place. Replacement text is literal: ``$&``, ``\\1`` and ``\\g<0>`` stay as written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from sa3p_engine._attributes import AttributeProblem, required_path, sha256_attribute
from sa3p_engine._backend import FileStat, FileWriter, WriteReceipt
from sa3p_engine._edit_formats import BodyPart, EditPair, parse_edit_body
from sa3p_engine._edit_tiers import Match, MatchFailure, find_match, split_lines
from sa3p_engine._effects import Commit, OpenWriter, Routine, Stat, WriteData, discard_write
from sa3p_engine._limits import Limits
from sa3p_engine._outputs import ApplyEditOutput, CommandOutput, EditReport
from sa3p_engine._read_file import read_blocks

__all__ = ["run_apply_edit", "write_whole"]

_DIFF_LINES_PER_EDIT = 12


@dataclass(frozen=True, slots=True)
class _Applied:
    content: str
    report: EditReport
    diff: str


def _failed(path: str, message: str) -> CommandOutput:
    return CommandOutput(command="apply_edit", ok=False, error=message, subject=path)


def run_apply_edit(
    attributes: Mapping[str, str], parts: list[BodyPart], limits: Limits
) -> Routine[CommandOutput]:
    """Run one ``apply_edit`` command (backend errors propagate to the engine)."""
    path = required_path("apply_edit", attributes)
    expected = sha256_attribute(attributes)
    if isinstance(path, AttributeProblem):
        return _failed("", path.message)
    if isinstance(expected, AttributeProblem):
        return _failed(path, expected.message)
    pairs = parse_edit_body(parts)
    if isinstance(pairs, str):
        return _failed(path, pairs)
    loaded = yield from _load(path, expected, limits)
    if isinstance(loaded, str):
        return _failed(path, loaded)
    edited = _edit(path, loaded[0], pairs)
    if isinstance(edited, CommandOutput):
        return edited
    content, reports, diffs = edited
    receipt = yield from write_whole(path, content.encode("utf-8"))
    return ApplyEditOutput(
        command="apply_edit",
        ok=True,
        subject=path,
        path=path,
        edits=tuple(reports),
        sha256=receipt.sha256,
        diff="\n".join(diffs),
    )


def write_whole(path: str, data: bytes) -> Routine[WriteReceipt]:
    """Write ``data`` to ``path`` through one atomic writer (backend errors propagate)."""
    writer: FileWriter = yield OpenWriter(path)
    try:
        yield WriteData(writer, data)
        receipt: WriteReceipt = yield Commit(writer)
    except Exception:
        yield from discard_write(writer)
        raise
    return receipt


def _load(path: str, expected: str | None, limits: Limits) -> Routine[str | tuple[str, str]]:
    """(content, sha256 before the edit), or a message."""
    stat: FileStat = yield Stat(path)
    if stat.size > limits.edit_max_bytes:
        return f"the file is larger than {limits.edit_max_bytes} bytes; use write_file instead"
    blocks: list[bytes] = []
    yield from read_blocks(path, limits.read_block_bytes, blocks.append)
    data = b"".join(blocks)
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected:
        return (
            f"stale file: its sha256 is now {digest}, not the expected {expected}; it changed "
            f"since you read it, so read_file it again and redo the edit"
        )
    try:
        return data.decode("utf-8"), digest
    except UnicodeDecodeError as error:
        return f"the file is not UTF-8 text (byte {error.start}); use write_file to replace it"


def _edit(
    path: str, content: str, pairs: list[EditPair]
) -> CommandOutput | tuple[str, list[EditReport], list[str]]:
    """The edited content, a report and a diff per pair; or the failure."""
    reports: list[EditReport] = []
    diffs: list[str] = []
    for index, pair in enumerate(pairs, start=1):
        applied = _apply_pair(content, pair, index)
        if isinstance(applied, str):
            prefix = f"edit {index} of {len(pairs)}: " if len(pairs) > 1 else ""
            rest = " No edit was applied (all edits of one apply_edit apply or none do)."
            return _failed(path, f"{prefix}{applied}.{rest if len(pairs) > 1 else ''}")
        content = applied.content
        reports.append(applied.report)
        diffs.append(applied.diff)
    return content, reports, diffs


def _apply_pair(content: str, pair: EditPair, index: int) -> _Applied | str:
    if not pair.search.strip():
        return "the search text is empty; quote the lines to change in <search>"
    if pair.search == pair.replace:
        return "the search and replace texts are identical; nothing would change"
    match = find_match(content, pair.search, pair.replace)
    if isinstance(match, MatchFailure):
        return match.reason
    new_content = content[: match.start] + match.new_text + content[match.end :]
    return _Applied(new_content, _report(new_content, match, index), _diff(content, match))


def _report(new_content: str, match: Match, index: int) -> EditReport:
    start_line = new_content.count("\n", 0, match.start) + 1
    span = match.new_text.count("\n") - (1 if match.new_text.endswith("\n") else 0)
    end_line = start_line + span if match.new_text else start_line - 1
    return EditReport(
        index=index,
        tier=match.tier,
        similarity=round(match.similarity, 4),
        start_line=start_line,
        end_line=end_line,
    )


def _diff(content: str, match: Match) -> str:
    """A unified-diff hunk of the whole lines the match touched."""
    line_start = content.rfind("\n", 0, match.start) + 1
    last = max(match.end - 1, match.start)
    newline = content.find("\n", last)
    line_end = len(content) if newline < 0 else newline + 1
    old = content[line_start:line_end]
    new = content[line_start : match.start] + match.new_text + content[match.end : line_end]
    first = content.count("\n", 0, line_start) + 1
    old_lines, new_lines = split_lines(old), split_lines(new)
    same_head = 0
    while same_head < min(len(old_lines), len(new_lines)) - 1 and (
        old_lines[same_head] == new_lines[same_head]
    ):
        same_head += 1
    context = [f" {line.rstrip(chr(13) + chr(10))}" for line in old_lines[:same_head][-2:]]
    old_lines, new_lines = old_lines[same_head:], new_lines[same_head:]
    same_tail = _common_tail(old_lines, new_lines)
    after = [
        f" {line.rstrip(chr(13) + chr(10))}" for line in old_lines[len(old_lines) - same_tail :][:2]
    ]
    if same_tail:  # a line kept after the change is context, not "-line +line"
        old_lines, new_lines = old_lines[:-same_tail], new_lines[:-same_tail]
    first += same_head - len(context)
    shown = len(context) + len(after)
    header = f"@@ -{first},{shown + len(old_lines)} +{first},{shown + len(new_lines)} @@"
    return "\n".join([header, *context, *_marked("-", old_lines), *_marked("+", new_lines), *after])


def _common_tail(old_lines: list[str], new_lines: list[str]) -> int:
    """Lines equal at the end of both, leaving at least one line on each side."""
    same = 0
    while same < min(len(old_lines), len(new_lines)) - 1 and (
        old_lines[-1 - same] == new_lines[-1 - same]
    ):
        same += 1
    return same


def _marked(marker: str, lines: list[str]) -> list[str]:
    shown = [f"{marker}{line.rstrip(chr(13) + chr(10))}" for line in lines[:_DIFF_LINES_PER_EDIT]]
    if len(lines) > _DIFF_LINES_PER_EDIT:
        shown.append(f"{marker}… {len(lines) - _DIFF_LINES_PER_EDIT} more lines")
    return shown
