"""Finding where one search text applies in a file: exact → whitespace-tolerant → fuzzy.

Each tier must find exactly one place. Several places at a tier refuse the edit (listing their
line numbers) instead of falling through to a looser tier. The replacement is always literal.

- **exact**: ``str.find``. In a CRLF file an LF search (and its replacement) is first converted
  to CRLF. The replacement takes the file's line ending when the file's endings are uniform: in
  a file where every ``\n`` is preceded by ``\r`` its bare LFs become CRLF, in a file with no
  CRLF its CRLFs become LF; a file with mixed endings (or none) gets the replacement as written.
  So the result equals ``content.replace(search, replace, 1)`` whenever the replacement's line
  endings already match the file's (always for LF text in an LF file).
- **whitespace**: whole lines compared with leading and trailing whitespace (and ``\\r``)
  ignored, provided the indentation differs by one uniform prefix, possibly after converting
  between spaces and tabs (a Makefile's tab-indented recipe quoted with spaces); the
  replacement is re-indented the same way (so the tabs stay tabs) and takes the file's line
  ending. The fuzzy tier re-indents its replacement likewise.
- **fuzzy**: rapidfuzz ``ratio`` between the stripped search lines and a window of the file, at
  least ``FUZZY_THRESHOLD`` and ahead of every other scored, non-overlapping window by
  ``FUZZY_MARGIN``, for a search of at least ``FUZZY_MIN_CHARS`` characters. Candidate windows
  are anchored on the file lines most like the search's ``_ANCHORS`` longest lines
  (``process.extract``, top ``_ANCHOR_MATCHES`` each), start and length varied by ±``_SLACK``
  lines; they are ranked by a line-level similarity (lines as tokens, cheap) and only the best
  ``_SCORING_CHARS // len(search)`` (3 to 100) get the character ``ratio``. So the cost is linear
  in the file's size and bounded in the search's, never quadratic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "FUZZY_MARGIN",
    "FUZZY_MIN_CHARS",
    "FUZZY_THRESHOLD",
    "EditTier",
    "Match",
    "MatchFailure",
    "file_line_ending",
    "find_match",
    "split_lines",
]

FUZZY_THRESHOLD = 0.85
"""Minimum rapidfuzz ``ratio``/100 between the search lines and a window of the file."""

FUZZY_MIN_CHARS = 40
"""A search shorter than this (stripped lines joined) is never matched fuzzily: in a short text a
0.85 similarity is two changed characters, e.g. ``def c(): return 7`` against ``def a(): return 1``,
which must not be taken for the same code."""

FUZZY_MARGIN = 0.05
"""A fuzzy match is unique only if no other (non-overlapping) window scores within this much of
it (and at least ``FUZZY_THRESHOLD``); repetitive code otherwise makes every edit ambiguous."""

_ANCHORS = 3
_ANCHOR_MATCHES = 8
_SLACK = 2
_SCORING_CHARS = 200_000
_MIN_SCORED = 3
_MAX_SCORED = 100
_MAX_CANDIDATES_SHOWN = 10
_REGION_LINES_SHOWN = 12


class EditTier(enum.Enum):
    """The matching tier that located a search text."""

    EXACT = "exact"
    WHITESPACE = "whitespace"
    FUZZY = "fuzzy"


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """Replace ``content[start:end]`` by ``new_text``."""

    tier: EditTier
    start: int
    end: int
    new_text: str
    similarity: float = 1.0


@dataclass(frozen=True, slots=True)
class MatchFailure:
    """Why a search text was refused (no match, or several)."""

    reason: str


def split_lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept; only ``\\n`` ends a line (unlike ``str.splitlines``)."""
    lines = text.split("\n")
    result = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def find_match(content: str, search: str, replace: str) -> Match | MatchFailure:
    """Locate ``search`` in ``content`` through the tiers and build the replacement."""
    found = _exact(content, search, replace)
    if found is not None:
        return found
    lines = split_lines(content)
    search_lines = [line.rstrip("\r\n") for line in split_lines(search)]
    keys = [line.strip() for line in lines]
    search_keys = [line.strip() for line in search_lines]
    found = _whitespace(lines, keys, search_lines, search_keys, replace)
    if found is not None:
        return found
    return _fuzzy(lines, keys, search_lines, search_keys, replace)


# --- exact ------------------------------------------------------------------------------------


def _exact(content: str, search: str, replace: str) -> Match | MatchFailure | None:
    tier = EditTier.EXACT
    first = content.find(search)
    if first < 0 and "\r\n" in content and "\n" in search:
        search, replace = _to_crlf(search), _to_crlf(replace)
        tier = EditTier.WHITESPACE
        first = content.find(search)
    if first < 0:
        return None
    if content.find(search, first + 1) >= 0:
        ranges = [
            (_line_of(content, start), _line_of(content, start + len(search) - 1))
            for start in _occurrences(content, search)
        ]
        return _ambiguous(tier, ranges, total=content.count(search))
    new_text = _with_line_ending(replace, file_line_ending(content))
    return Match(tier=tier, start=first, end=first + len(search), new_text=new_text)


def file_line_ending(content: str) -> str | None:
    """``"\r\n"`` if every ``\n`` of ``content`` is preceded by ``\r``, ``"\n"`` if none is,
    ``None`` for mixed endings or text without a newline (then nothing is converted)."""
    newlines = content.count("\n")
    if newlines == 0:
        return None
    crlfs = content.count("\r\n")
    if crlfs == newlines:
        return "\r\n"
    return "\n" if crlfs == 0 else None


def _with_line_ending(text: str, ending: str | None) -> str:
    if ending == "\r\n":
        return _to_crlf(text)
    if ending == "\n":
        return text.replace("\r\n", "\n")
    return text


def _to_crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _occurrences(content: str, search: str) -> list[int]:
    starts: list[int] = []
    position = content.find(search)
    while position >= 0 and len(starts) < _MAX_CANDIDATES_SHOWN:
        starts.append(position)
        position = content.find(search, position + 1)
    return starts


def _line_of(content: str, offset: int) -> int:
    return content.count("\n", 0, max(offset, 0)) + 1


def _ambiguous(
    tier: EditTier, ranges: list[tuple[int, int]], *, total: int | None = None
) -> MatchFailure:
    count = max(total or 0, len(ranges))
    shown = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges[:_MAX_CANDIDATES_SHOWN])
    return MatchFailure(
        f"ambiguous: the search text matches {count} places ({tier.value} tier) at lines "
        f"{shown}; add surrounding lines to the search so it matches only one"
    )


# --- whitespace -------------------------------------------------------------------------------


def _whitespace(
    lines: list[str],
    keys: list[str],
    search_lines: list[str],
    search_keys: list[str],
    replace: str,
) -> Match | MatchFailure | None:
    if not any(search_keys):
        return None
    anchor = _longest(search_keys)  # the most distinctive line: fewest false candidates
    size = len(search_keys)
    found: list[tuple[int, _Indentation]] = []
    for index, key in enumerate(keys):
        start = index - anchor
        if key != search_keys[anchor] or start < 0 or start + size > len(lines):
            continue
        indentation = _window_indentation(
            lines[start : start + size], keys[start : start + size], search_lines, search_keys
        )
        if indentation is not None:
            found.append((start, indentation))
    if not found:
        return None
    if len(found) > 1:
        return _ambiguous(EditTier.WHITESPACE, [(s + 1, s + size) for s, _ in found])
    start, indentation = found[0]
    return _line_match(EditTier.WHITESPACE, lines, start, size, replace, indentation, 1.0)


@dataclass(frozen=True, slots=True)
class _Indentation:
    """How the search's indentation becomes the file's, applied to each replacement line.

    ``tab_width`` > 0 first converts the line's indentation between spaces and tabs (``to_tabs``:
    the file indents with tabs where the search used spaces, as models often write a Makefile's
    recipe lines; otherwise the reverse), then ``delta`` adds or removes a uniform prefix.
    """

    delta: tuple[bool, str] = (True, "")
    tab_width: int = 0
    to_tabs: bool = True

    def apply(self, line: str) -> str:
        if self.tab_width and line.strip():
            line = _convert_indent(line, self.tab_width, to_tabs=self.to_tabs)
        return _reindent(line, self.delta)


def _window_indentation(
    window: list[str], keys: list[str], search_lines: list[str], search_keys: list[str]
) -> _Indentation | None:
    """The indentation change making the search equal to the window, or None if there is none:
    a uniform prefix, else a tab/space conversion (of the width the lines imply) and a prefix."""
    delta = _uniform_delta(window, keys, search_lines, search_keys)
    if delta is not None:
        return _Indentation(delta)
    style = _tab_style(window, search_lines)
    if style is None:
        return None
    width, to_tabs = style
    converted = [
        _convert_indent(line, width, to_tabs=to_tabs) if line.strip() else line
        for line in search_lines
    ]
    delta = _uniform_delta(window, keys, converted, search_keys)
    return None if delta is None else _Indentation(delta, width, to_tabs)


def _tab_style(window: list[str], search_lines: list[str]) -> tuple[int, bool] | None:
    """(spaces per tab, to_tabs) when one side indents with tabs and the other with spaces only.

    The width is the one the paired lines imply (spaces / tabs of the first line indented on
    both sides), else 4; the caller verifies it, so a wrong guess only means "no match".
    """
    file_indents = [_indent(line) for line in window if line.strip()]
    search_indents = [_indent(line) for line in search_lines if line.strip()]
    file_tabs = any("\t" in indent for indent in file_indents)
    search_tabs = any("\t" in indent for indent in search_indents)
    if file_tabs == search_tabs:
        return None
    tabbed, spaced = (file_indents, search_indents) if file_tabs else (search_indents, file_indents)
    for tabs, spaces in zip(tabbed, spaced, strict=False):
        count = tabs.count("\t")
        if count and spaces and "\t" not in spaces and len(spaces) % count == 0:
            return len(spaces) // count, file_tabs
    return 4, file_tabs


def _convert_indent(line: str, width: int, *, to_tabs: bool) -> str:
    indent = _indent(line)
    columns = len(indent.replace("\r", "").replace("\n", "").expandtabs(width))
    new = "\t" * (columns // width) + " " * (columns % width) if to_tabs else " " * columns
    return new + line[len(indent) :]


def _uniform_delta(
    window: list[str], keys: list[str], search_lines: list[str], search_keys: list[str]
) -> tuple[bool, str] | None:
    """The one indentation change (add?, prefix) turning the search into the window, or None."""
    delta: tuple[bool, str] | None = None
    for line, key, search_line, search_key in zip(
        window, keys, search_lines, search_keys, strict=False
    ):
        if key != search_key:
            return None
        if not key:
            continue
        here = _indent_delta(_indent(line), _indent(search_line))
        if here is None or (delta is not None and here != delta):
            return None
        delta = here
    return delta if delta is not None else (True, "")


def _longest(keys: list[str]) -> int:
    return max(range(len(keys)), key=lambda index: (len(keys[index]), -index))


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_delta(file_indent: str, search_indent: str) -> tuple[bool, str] | None:
    if file_indent.endswith(search_indent):
        return (True, file_indent[: len(file_indent) - len(search_indent)])
    if search_indent.endswith(file_indent):
        return (False, search_indent[: len(search_indent) - len(file_indent)])
    return None


def _line_match(  # noqa: PLR0917
    tier: EditTier,
    lines: list[str],
    start: int,
    size: int,
    replace: str,
    indentation: _Indentation,
    similarity: float,
) -> Match:
    """Replace whole lines ``start .. start+size-1`` with the re-indented replacement."""
    offset = sum(len(line) for line in lines[:start])
    window = lines[start : start + size]
    length = sum(len(line) for line in window)
    eol = "\r\n" if window and window[0].endswith("\r\n") else "\n"
    new_lines = [indentation.apply(line.rstrip("\r\n")) for line in split_lines(replace)]
    new_text = eol.join(new_lines)
    if new_lines and window and window[-1].endswith("\n"):
        new_text += eol
    return Match(
        tier=tier, start=offset, end=offset + length, new_text=new_text, similarity=similarity
    )


def _reindent(line: str, delta: tuple[bool, str]) -> str:
    add, prefix = delta
    if not line.strip():
        return line
    if add:
        return prefix + line
    return line[len(prefix) :] if line.startswith(prefix) else line.lstrip(" \t")


# --- fuzzy ------------------------------------------------------------------------------------


def _fuzzy(
    lines: list[str],
    keys: list[str],
    search_lines: list[str],
    search_keys: list[str],
    replace: str,
) -> Match | MatchFailure:
    if not lines:
        return MatchFailure("no match: the file is empty")
    scores = _score_windows(keys, search_keys)
    if not scores:
        return MatchFailure("no match: nothing in the file resembles the search text")
    (best_start, best_size), best = max(scores.items(), key=_rank)
    if best < FUZZY_THRESHOLD or len("\n".join(search_keys)) < FUZZY_MIN_CHARS:
        return MatchFailure(_no_match(lines, best_start, best_size, best))
    rivals = [
        (start, size)
        for (start, size), score in scores.items()
        if score >= max(FUZZY_THRESHOLD, best - FUZZY_MARGIN)
        and (start + size <= best_start or start >= best_start + best_size)
    ]
    if rivals:
        ranges = sorted({(best_start + 1, best_start + best_size)} | _merge(rivals))
        return _ambiguous(EditTier.FUZZY, ranges)
    indentation = _fuzzy_indentation(lines[best_start : best_start + best_size], search_lines)
    return _line_match(EditTier.FUZZY, lines, best_start, best_size, replace, indentation, best)


def _rank(item: tuple[tuple[int, int], float]) -> tuple[float, int, int]:
    (start, size), score = item
    return (score, -start, -size)


def _score_windows(keys: list[str], search_keys: list[str]) -> dict[tuple[int, int], float]:
    """Similarity of the search to the most promising candidate windows (start, size).

    Candidates come from anchors; they are ranked by a cheap line-level similarity (lines as
    tokens), and only the best ``budget`` of them get the character-level ``ratio``, the budget
    shrinking as the search grows so the cost stays bounded.
    """
    # rapidfuzz is imported here, on the first fuzzy match: it costs ~8 ms of start-up that a
    # `sa3p run` without a fuzzy edit should not pay.
    from rapidfuzz import fuzz  # noqa: PLC0415
    from rapidfuzz.distance import Indel  # noqa: PLC0415

    needle = "\n".join(search_keys)
    windows = _candidate_windows(keys, search_keys)
    ids: dict[str, int] = {}
    file_ids = [ids.setdefault(key, len(ids)) for key in keys]
    search_ids = [ids.setdefault(key, len(ids)) for key in search_keys]

    def rank(window: tuple[int, int]) -> tuple[float, int, int, int]:
        start, size = window
        token = Indel.normalized_similarity(search_ids, file_ids[start : start + size])
        return (-token, windows[window], start, size)

    budget = max(_MIN_SCORED, min(_MAX_SCORED, _SCORING_CHARS // max(len(needle), 1)))
    return {
        (start, size): fuzz.ratio(needle, "\n".join(keys[start : start + size])) / 100.0
        for start, size in sorted(windows, key=rank)[:budget]
    }


def _candidate_windows(keys: list[str], search_keys: list[str]) -> dict[tuple[int, int], int]:
    """Windows near the file lines most like the search's longest lines, with their distance
    (lines of shift plus lines of size change) from the anchored position."""
    from rapidfuzz import fuzz, process  # noqa: PLC0415 - see _score_windows

    size = len(search_keys)
    anchors = sorted(range(size), key=lambda i: (-len(search_keys[i]), i))[:_ANCHORS]
    windows: dict[tuple[int, int], int] = {}
    for anchor in anchors:
        hits = process.extract(search_keys[anchor], keys, scorer=fuzz.ratio, limit=_ANCHOR_MATCHES)
        for _, _, index in hits:
            _windows_around(len(keys), index - anchor, size, windows)
    return windows


def _windows_around(total: int, start: int, size: int, windows: dict[tuple[int, int], int]) -> None:
    for shift in range(-_SLACK, _SLACK + 1):
        for grow in range(-_SLACK, _SLACK + 1):
            first, length = start + shift, size + grow
            if first < 0 or length < 1 or first >= total:
                continue
            window = (first, min(length, total - first))
            distance = abs(shift) + abs(grow)
            windows[window] = min(distance, windows.get(window, distance))


def _merge(windows: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """1-based line ranges of overlapping windows merged into one range each."""
    merged: list[list[int]] = []
    for start, size in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], start + size)
        else:
            merged.append([start, start + size])
    return {(a + 1, b) for a, b in merged}


def _fuzzy_indentation(window: list[str], search_lines: list[str]) -> _Indentation:
    """Tab/space conversion as the lines imply, then the prefix change of the first non-blank
    line (the lines are not equal, so no uniform change can be verified)."""
    style = _tab_style(window, search_lines)
    width, to_tabs = style if style is not None else (0, True)
    if width:
        search_lines = [
            _convert_indent(line, width, to_tabs=to_tabs) if line.strip() else line
            for line in search_lines
        ]
    file_line = next((line for line in window if line.strip()), "")
    search_line = next((line for line in search_lines if line.strip()), "")
    delta = _indent_delta(_indent(file_line), _indent(search_line))
    return _Indentation(delta or (True, ""), width, to_tabs)


def _no_match(lines: list[str], start: int, size: int, score: float) -> str:
    shown = lines[start : start + min(size, _REGION_LINES_SHOWN)]
    width = len(str(start + len(shown)))
    region = "".join(
        f"{start + i + 1:>{width}} | {line.rstrip(chr(13) + chr(10))}\n"
        for i, line in enumerate(shown)
    )
    more = "" if size <= _REGION_LINES_SHOWN else f"  … {size - len(shown)} more lines\n"
    why = (
        f"below the {FUZZY_THRESHOLD:.2f} threshold"
        if score < FUZZY_THRESHOLD
        else f"a search under {FUZZY_MIN_CHARS} characters must match exactly or up to whitespace"
    )
    return (
        f"no match: the closest region is lines {start + 1}-{start + size} with similarity "
        f"{score:.2f} ({why}):\n{region}{more}"
        f"copy the current text from a fresh read_file into the search"
    ).rstrip("\n")
