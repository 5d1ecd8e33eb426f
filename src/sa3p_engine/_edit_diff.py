"""Showing what an edit changed: minimal unified-diff hunks (``difflib``), capped in size.

Lines common to both ends are set aside first (so a whole file costs one linear pass plus
``difflib`` on the changed middle); a one-line insertion shows as one ``+`` line, never as a
removal and an addition. A line without a final newline is followed by ``\\ No newline at end of
file``, so a change of the final newline alone is visible.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["render_diff"]

_NO_NEWLINE = "\\ No newline at end of file"


def render_diff(
    old: Sequence[str],
    new: Sequence[str],
    *,
    first_line: int = 1,
    context: int = 2,
    max_lines: int = 40,
) -> str:
    """Hunks (``@@ -a,b +c,d @@`` and their lines, no file headers) turning ``old`` into ``new``.

    Args:
        old: the lines before, each with its line ending (the last may lack one).
        new: the lines after.
        first_line: the line number of ``old[0]`` (and ``new[0]``) in the file.
        context: unchanged lines shown around each change.
        max_lines: the most lines returned; the rest is counted in a last line.
    """
    head = _common_run(old, new)
    tail = _common_run(old[head:][::-1], new[head:][::-1])
    skip_head = max(head - context, 0)
    skip_tail = max(tail - context, 0)
    before = old[skip_head : len(old) - skip_tail]
    after = new[skip_head : len(new) - skip_tail]
    offset = first_line + skip_head
    shown: list[str] = []
    matcher = difflib.SequenceMatcher(None, before, after)
    for group in matcher.get_grouped_opcodes(context):
        shown.append(_header(group, offset))
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                shown += _marked(" ", before[a1:a2])
                continue
            shown += _marked("-", before[a1:a2])
            shown += _marked("+", after[b1:b2])
    if len(shown) > max_lines:
        hidden = len(shown) - max_lines + 1
        shown = [*shown[: max_lines - 1], f"… {hidden} more diff lines"]
    return "\n".join(shown)


def _common_run(left: Sequence[str], right: Sequence[str]) -> int:
    count = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        count += 1
    return count


def _header(group: list[tuple[str, int, int, int, int]], offset: int) -> str:
    a1, a2 = group[0][1], group[-1][2]
    b1, b2 = group[0][3], group[-1][4]
    return f"@@ -{_span(offset + a1, a2 - a1)} +{_span(offset + b1, b2 - b1)} @@"


def _span(start: int, count: int) -> str:
    if count == 1:
        return str(start)
    return f"{start - 1 if count == 0 else start},{count}"


def _marked(marker: str, lines: Sequence[str]) -> list[str]:
    result: list[str] = []
    for line in lines:
        result.append(marker + line.removesuffix("\n").removesuffix("\r"))
        if not line.endswith("\n"):
            result.append(_NO_NEWLINE)
    return result
