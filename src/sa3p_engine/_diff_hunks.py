"""Diff hunks — unified-diff hunks of ``apply_edit``, V4A chunks of ``apply_patch`` — located by
their old lines and applied line by line.

A hunk's context (`` ``) and ``-`` lines only *locate* it; only ``-`` and ``+`` lines change the
file. Context lines stay exactly as the file has them, so a model's slightly wrong context never
overwrites the file's real lines; ``-`` lines remove the file lines they were matched with; ``+``
lines are inserted where they stand, with the file's line ending.

Locating, tier by tier (the first tier with any place in scope decides; several places there
refuse the hunk, listing them):

- ``exact``, ``trailing_whitespace``, ``whitespace``, ``punctuation`` (typographic dashes,
  quotes and spaces folded to ASCII): whole lines compared after that normalisation. With
  ``reindent`` (``apply_edit``) the whitespace and punctuation tiers need one uniform indentation
  change, which the ``+`` lines then get too; without it (``apply_patch``) ``+`` lines are written
  exactly as given.
- ``fuzzy`` (only when asked for): the old lines aligned one to one with file lines
  (``_fuzzy_tier``); every context line must still be at least ``CONTEXT_LINE_MIN`` similar to
  its file line, and every ``-`` line ``REMOVED_LINE_MIN``, or the hunk is refused.

Scope: ``@@ anchor`` lines narrow it. The first anchor may be any line of the file that matches
it (by the same tiers, or as the start of a line, for a header cut short); each further anchor is
the nearest match after the previous one, and the hunk goes to the nearest place at or after the
last anchor. If the anchors' occurrences lead to different places, the hunk is ambiguous. A hunk
of ``+`` lines only is inserted right after its last anchor, or at the end of the file with
``at_end``; with neither it has no place and is refused (never appended at the end by default).
``at_end`` (``*** End of File``, ``\\ No newline at end of file``) requires the old lines to end
the file. ``begin`` (the next V4A chunk may not start before the previous one ended) cuts the
scope's start.

Line endings: the file's endings are kept; its final newline too, unless the hunk said
otherwise (``final_newline``).
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sa3p_engine._edit_tiers import EditTier, MatchFailure, ambiguous, no_match, strip_ending
from sa3p_engine._fuzzy_tier import FuzzyProblem, FuzzyRefusal, closest_window, locate_fuzzy
from sa3p_engine._indentation import Indentation, fuzzy_indentation, window_indentation
from sa3p_engine._output_codes import OutputCode

__all__ = [
    "CONTEXT_LINE_MIN",
    "LINE_TIERS",
    "REMOVED_LINE_MIN",
    "Hunk",
    "HunkLine",
    "HunkResult",
    "LineKind",
    "apply_hunk",
]

CONTEXT_LINE_MIN = 0.6
"""In a fuzzy match, each context line must be at least this similar to its file line."""

REMOVED_LINE_MIN = 0.8
"""In a fuzzy match, each ``-`` line must be at least this similar to the file line it removes."""

LINE_TIERS = (
    EditTier.EXACT,
    EditTier.TRAILING_WHITESPACE,
    EditTier.WHITESPACE,
    EditTier.PUNCTUATION,
)
"""The tiers that compare whole lines, in order."""


class LineKind(enum.Enum):
    """What a hunk line does; the value is its marker in a diff."""

    CONTEXT = " "
    REMOVED = "-"
    ADDED = "+"


_PUNCTUATION = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys(
            "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "
        ),
    }
)
_IDENTIFIER_CHARACTER = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class HunkLine:
    """One line of a hunk, without its line ending."""

    kind: LineKind
    text: str

    def __post_init__(self) -> None:
        if "\n" in self.text:
            raise ValueError("a hunk line holds no newline")


@dataclass(frozen=True, slots=True, kw_only=True)
class Hunk:
    """One hunk.

    Attributes:
        lines: context, removed and added lines in order.
        anchors: ``@@`` lines narrowing the scope, outermost first.
        at_end: the old lines (or, with none, the added ones) end the file.
        final_newline: whether the file ends with a newline afterwards (``\\ No newline at end
            of file``); None keeps the file's.
        hint_line: the old start line of a ``@@ -N,M +K,L @@`` header (messages only).
        body_line: the hunk's first line in the command's body (messages only).
    """

    lines: tuple[HunkLine, ...]
    anchors: tuple[str, ...] = ()
    at_end: bool = False
    final_newline: bool | None = None
    hint_line: int | None = None
    body_line: int = 0

    def __post_init__(self) -> None:
        if self.final_newline is not None and not self.at_end:
            raise ValueError("a hunk that sets the final newline must be at the end")

    @property
    def old(self) -> list[str]:
        return [line.text for line in self.lines if line.kind is not LineKind.ADDED]

    @property
    def new(self) -> list[str]:
        return [line.text for line in self.lines if line.kind is not LineKind.REMOVED]


@dataclass(frozen=True, slots=True, kw_only=True)
class HunkResult:
    """The whole file's lines after the hunk, and where the hunk's lines now are (0-based,
    ``start <= i < end``); ``end`` is also where a next V4A chunk may begin."""

    lines: list[str]
    tier: EditTier
    similarity: float
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Place:
    start: int
    tier: EditTier
    similarity: float = 1.0
    indentation: Indentation | None = None


class _FileKeys:
    """The file's lines normalised for each tier, computed when first asked for."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.text = "".join(lines)
        self._keys: dict[EditTier, list[str]] = {}

    def of(self, tier: EditTier) -> list[str]:
        keys = self._keys.get(tier)
        if keys is None:
            if tier is EditTier.EXACT:
                keys = self._without_endings()
            else:
                keys = [normalise(tier, line) for line in self.of(EditTier.EXACT)]
            self._keys[tier] = keys
        return keys

    def line_ending(self, start: int) -> str:
        """The file's line ending if uniform, else that of the nearest line at ``start``."""
        crlf = self.text.count("\r\n")
        lf = self.text.count("\n") - crlf
        if crlf and not lf:
            return "\r\n"
        if lf and not crlf:
            return "\n"
        for line in (*self.lines[start : start + 1], *self.lines[max(start - 1, 0) : start]):
            if line.endswith("\n"):
                return "\r\n" if line.endswith("\r\n") else "\n"
        return "\n"

    def _without_endings(self) -> list[str]:
        keys = self.text.split("\n")
        if self.text.endswith("\n") or not self.text:
            keys.pop()
        if "\r" in self.text:
            keys = [key.removesuffix("\r") for key in keys]
        return keys


def normalise(tier: EditTier, text: str) -> str:
    """``text`` as the tier compares it."""
    match tier:
        case EditTier.EXACT:
            return text
        case EditTier.TRAILING_WHITESPACE:
            return text.rstrip()
        case EditTier.PUNCTUATION:
            return text.translate(_PUNCTUATION).strip()
        case _:
            return text.strip()


def apply_hunk(
    lines: list[str], hunk: Hunk, *, fuzzy: bool, reindent: bool, begin: int = 0
) -> HunkResult | MatchFailure:
    """Apply ``hunk`` to the file ``lines`` (each with its ending), or say why not."""
    keys = _FileKeys(lines)
    anchor_ends = _anchor_ends(keys, hunk.anchors, begin)
    if isinstance(anchor_ends, MatchFailure):
        return anchor_ends
    old = hunk.old
    if not old:
        position = _addition_place(lines, hunk, anchor_ends)
        if isinstance(position, MatchFailure):
            return position
        place = _Place(position, EditTier.EXACT)
    else:
        located = _locate(keys, old, hunk, anchor_ends, begin, reindent=reindent)
        if located is None and fuzzy:
            located = _locate_fuzzy(keys, hunk, anchor_ends, begin)
        if located is None:
            located = _no_place(keys, hunk, anchor_ends, begin)
        if isinstance(located, MatchFailure):
            return located
        place = located
    return _splice(keys, hunk, place)


# --- anchors ----------------------------------------------------------------------------------


def _anchor_ends(
    keys: _FileKeys, anchors: Sequence[str], begin: int
) -> list[int] | MatchFailure | None:
    """The line index each chain of anchor occurrences ends at (all of them), None without
    anchors, or why there is none."""
    if not anchors:
        return None
    ends = _anchor_lines(keys, anchors[0], begin)
    if not ends:
        return MatchFailure(
            f"the @@ anchor {anchors[0].strip()!r} is not in the file{_after(begin)}"
        )
    for previous, anchor in itertools.pairwise(anchors):
        found = _anchor_lines(keys, anchor, min(ends) + 1)
        ends = sorted({_nearest(found, end + 1) for end in ends} - {-1})
        if not ends:
            return MatchFailure(
                f"the @@ anchor {anchor.strip()!r} is not in the file after the anchor "
                f"{previous.strip()!r}"
            )
    return ends


def _after(begin: int) -> str:
    return f" after line {begin} (where the previous chunk ended)" if begin > 0 else ""


def _anchor_lines(keys: _FileKeys, anchor: str, begin: int) -> list[int]:
    """Lines at or after ``begin`` matching the anchor at its first tier with any match; the
    last tier takes a line that starts with the anchor (a header cut short)."""
    for tier in LINE_TIERS:
        wanted = normalise(tier, anchor)
        found = [i for i, key in enumerate(keys.of(tier)) if i >= begin and key == wanted]
        if found:
            return found
    wanted = normalise(EditTier.PUNCTUATION, anchor)
    if not wanted:
        return []
    return [
        i
        for i, key in enumerate(keys.of(EditTier.PUNCTUATION))
        if i >= begin and key.startswith(wanted) and not _continues_word(key, wanted)
    ]


def _continues_word(key: str, prefix: str) -> bool:
    rest = key[len(prefix) : len(prefix) + 1]
    return (
        bool(rest)
        and bool(_IDENTIFIER_CHARACTER.match(rest))
        and bool(_IDENTIFIER_CHARACTER.match(prefix[-1]))
    )


def _addition_place(
    lines: list[str], hunk: Hunk, anchor_ends: list[int] | None
) -> int | MatchFailure:
    """Where ``+`` lines with no old lines go."""
    if hunk.at_end or not lines:
        return len(lines)
    if anchor_ends is not None:
        if len(anchor_ends) > 1:
            return MatchFailure(
                f"ambiguous: the @@ anchor matches {len(anchor_ends)} places (lines "
                f"{', '.join(str(end + 1) for end in anchor_ends[:10])}); add an outer @@ "
                f"anchor (e.g. the class) or context lines so the added lines have one place",
                OutputCode.AMBIGUOUS_MATCH,
            )
        return anchor_ends[0] + 1
    return MatchFailure(
        "the hunk has only + lines and nothing says where they go: add context lines, an "
        "@@ line naming the line they follow, or *** End of File to append them",
        OutputCode.BAD_EDIT,
    )


# --- locating ---------------------------------------------------------------------------------


def _locate(
    keys: _FileKeys,
    old: list[str],
    hunk: Hunk,
    anchor_ends: list[int] | None,
    begin: int,
    *,
    reindent: bool,
) -> _Place | MatchFailure | None:
    total = len(keys.lines)
    for tier in LINE_TIERS:
        wanted = [normalise(tier, line) for line in old]
        matches = _occurrences(keys.of(tier), wanted, begin)
        if hunk.at_end:
            matches = [p for p in matches if p + len(old) == total]
        if reindent and tier in (EditTier.WHITESPACE, EditTier.PUNCTUATION):
            matches = [p for p in matches if _indentation(keys, p, hunk, tier) is not None]
        chosen = _in_scope(matches, anchor_ends)
        if len(chosen) > 1:
            return ambiguous(tier, [(p + 1, p + len(old)) for p in chosen])
        if chosen:
            start = chosen[0]
            indentation = _indentation(keys, start, hunk, tier) if reindent else None
            return _Place(start, tier, 1.0, indentation)
    return None


def _occurrences(keys: list[str], wanted: list[str], begin: int) -> list[int]:
    """Start indices ``>= begin`` of ``wanted`` as a run of ``keys``."""
    anchor = max(range(len(wanted)), key=lambda i: (len(wanted[i]), -i))
    found: list[int] = []
    index = begin + anchor - 1
    while True:
        try:
            index = keys.index(wanted[anchor], index + 1)
        except ValueError:
            return found
        start = index - anchor
        if keys[start : start + len(wanted)] == wanted:
            found.append(start)


def _in_scope(matches: list[int], anchor_ends: list[int] | None) -> list[int]:
    """The nearest match at or after each anchor chain's end (every match without anchors)."""
    if anchor_ends is None:
        return matches
    return sorted({_nearest(matches, end) for end in anchor_ends} - {-1})


def _nearest(positions: list[int], at_least: int) -> int:
    """The first of the ascending ``positions`` that is ``>= at_least``, or -1."""
    return next((position for position in positions if position >= at_least), -1)


def _indentation(keys: _FileKeys, start: int, hunk: Hunk, tier: EditTier) -> Indentation | None:
    """The uniform indentation change from the hunk's ``-`` lines to the file's (from its
    context lines when it removes none), which its ``+`` lines get too; None if not uniform.
    Context lines are kept from the file, so their own drift (a dropped leading space) is moot."""
    old = [line for line in hunk.lines if line.kind is not LineKind.ADDED]
    removed = [i for i, line in enumerate(old) if line.kind is LineKind.REMOVED]
    chosen = removed or list(range(len(old)))
    texts = [old[i].text for i in chosen]
    return window_indentation(
        [keys.lines[start + i] for i in chosen],
        [keys.of(tier)[start + i] for i in chosen],
        texts,
        [normalise(tier, text) for text in texts],
    )


def _locate_fuzzy(
    keys: _FileKeys, hunk: Hunk, anchor_ends: list[int] | None, begin: int
) -> _Place | MatchFailure | None:
    """The fuzzy tier, one line of the file per old line, within the one scope the anchors give."""
    if anchor_ends is not None and len(anchor_ends) != 1:
        return None
    low = max(anchor_ends[0] if anchor_ends else 0, begin)
    stripped = keys.of(EditTier.WHITESPACE)
    old = hunk.old
    found = locate_fuzzy(stripped[low:], [line.strip() for line in old], one_to_one=True)
    if isinstance(found, FuzzyRefusal):
        if found.problem is not FuzzyProblem.AMBIGUOUS:
            return None
        return ambiguous(_FUZZY, [(a + low, b + low) for a, b in found.ranges])
    start = low + found.start
    if hunk.at_end and start + len(old) != len(keys.lines):
        return None
    kinds = [line.kind for line in hunk.lines if line.kind is not LineKind.ADDED]
    for (index, position, score), kind in zip(found.pairs, kinds, strict=True):
        needed = REMOVED_LINE_MIN if kind is LineKind.REMOVED else CONTEXT_LINE_MIN
        if score < needed:
            what = "removed" if kind is LineKind.REMOVED else "context"
            return MatchFailure(
                f"no match: the hunk's closest place is lines {start + 1}-{start + len(old)} "
                f"(similarity {found.similarity:.2f}), but its {what} line "
                f"{old[index].strip()!r} does not match line {low + position + 1} "
                f"{strip_ending(keys.lines[low + position]).strip()!r}; copy the current "
                f"lines from a fresh read_file"
            )
    window = keys.lines[start : start + len(old)]
    return _Place(start, _FUZZY, found.similarity, fuzzy_indentation(window, old))


_FUZZY = EditTier.FUZZY


def _no_place(
    keys: _FileKeys, hunk: Hunk, anchor_ends: list[int] | None, begin: int
) -> MatchFailure:
    """Why the hunk has no place: out of scope, not at the end, already applied, or absent."""
    old, total = hunk.old, len(keys.lines)
    stripped = keys.of(EditTier.PUNCTUATION)
    anywhere = _occurrences(stripped, [normalise(EditTier.PUNCTUATION, line) for line in old], 0)
    if anywhere:
        shown = ", ".join(str(p + 1) for p in anywhere[:10])
        if hunk.at_end:
            why = f"but it must end the file ({total} lines: *** End of File or no final newline)"
        elif hunk.anchors:
            why = f"but none at or after the @@ anchor {hunk.anchors[-1].strip()!r}"
        elif begin > 0:
            why = f"but none after line {begin}, where the previous chunk ended"
        else:
            return MatchFailure(
                f"no match: the hunk's lines are at line {shown}, but their indentation differs "
                f"from the file's unevenly; copy them from a fresh read_file"
            )
        return MatchFailure(f"no match: the hunk's old lines are at line {shown}, {why}")
    applied = _already_applied(keys, hunk, anchor_ends)
    if applied is not None:
        return applied
    closest = closest_window(stripped, [line.strip() for line in old])
    if closest is None:
        return MatchFailure("no match: nothing in the file resembles the hunk's lines")
    start, size, score = closest
    hint = f", the @@ header said line {hunk.hint_line}" if hunk.hint_line else ""
    return no_match(keys.lines, start, size, score, f"the hunk's lines are not in the file{hint}")


def _already_applied(
    keys: _FileKeys, hunk: Hunk, anchor_ends: list[int] | None
) -> MatchFailure | None:
    new = hunk.new
    if not new or new == hunk.old:
        return None
    stripped = keys.of(EditTier.WHITESPACE)
    found = _in_scope(_occurrences(stripped, [line.strip() for line in new], 0), anchor_ends)
    if len(found) != 1:
        return None
    return MatchFailure(
        f"no match: the hunk's old lines are not in the file, but its new lines already are "
        f"(lines {found[0] + 1}-{found[0] + len(new)}): this change looks already applied, so "
        f"nothing needs to change",
        OutputCode.ALREADY_APPLIED,
    )


# --- applying ---------------------------------------------------------------------------------


def _splice(keys: _FileKeys, hunk: Hunk, place: _Place) -> HunkResult:
    """The file with the hunk applied at ``place``."""
    lines = keys.lines
    eol = keys.line_ending(place.start)
    out: list[str] = []
    index = place.start
    for line in hunk.lines:
        if line.kind is LineKind.CONTEXT:
            out.append(lines[index])
            index += 1
        elif line.kind is LineKind.REMOVED:
            index += 1
        else:
            text = place.indentation.apply(line.text) if place.indentation else line.text
            out.append(text + eol)
    reaches_end = index == len(lines)
    had_final_newline = lines[-1].endswith("\n") if lines else True
    new = [*lines[: place.start], *out, *lines[index:]]
    for position in range(max(place.start - 1, 0), min(place.start + len(out), len(new) - 1)):
        if not new[position].endswith("\n"):  # a last line that now has lines after it
            new[position] += eol
    if reaches_end and new:
        wanted = had_final_newline if hunk.final_newline is None else hunk.final_newline
        last = strip_ending(new[-1])
        new[-1] = last + eol if wanted else last
    return HunkResult(
        lines=new,
        tier=place.tier,
        similarity=place.similarity,
        start=place.start,
        end=place.start + len(out),
    )
