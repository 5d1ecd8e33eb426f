"""Finding where one search text applies in a file: exact → whitespace-tolerant → fuzzy.

Each tier must find the expected number of places (one, unless ``expected_replacements`` says
otherwise). More places at a tier refuse the edit (listing their line numbers) instead of falling
through to a looser tier. The replacement is always literal.

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
- **fuzzy** (``_fuzzy_tier``): rapidfuzz similarity of at least ``FUZZY_THRESHOLD``, unique by
  ``FUZZY_MARGIN``, boundaries from a line alignment; never for several replacements.

Before the looser tiers give up on a search as written, two readings the model plainly meant are
tried: the search without blank lines at its edges, and a search copied from ``read_file`` output
without its ``N | `` prefixes (only when every line has one, numbered consecutively).
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sa3p_engine._fuzzy_tier import (
    FUZZY_MIN_CHARS,
    FUZZY_THRESHOLD,
    FuzzyProblem,
    FuzzyRefusal,
    closest_window,
    locate_fuzzy,
)
from sa3p_engine._indentation import Indentation, fuzzy_indentation, window_indentation
from sa3p_engine._output_codes import OutputCode

__all__ = [
    "EditTier",
    "Match",
    "MatchFailure",
    "ambiguous",
    "file_line_ending",
    "find_match",
    "find_matches",
    "line_of",
    "no_match",
    "split_lines",
    "strip_ending",
]

_MAX_CANDIDATES_SHOWN = 10
_REGION_LINES_SHOWN = 12
_NEARBY_LINES = 2
_READ_FILE_PREFIX = re.compile(r"^ *(\d{1,9}) \|(?: |$)")


class EditTier(enum.Enum):
    """The matching tier that located a search text (or a hunk)."""

    EXACT = "exact"
    TRAILING_WHITESPACE = "trailing_whitespace"
    WHITESPACE = "whitespace"
    PUNCTUATION = "punctuation"
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
    """Why an edit cannot apply (no match, several, a file it cannot edit…), and its code."""

    reason: str
    code: OutputCode = OutputCode.NO_MATCH


def split_lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept; only ``\\n`` ends a line (unlike ``str.splitlines``)."""
    lines = text.split("\n")
    result = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def strip_ending(line: str) -> str:
    """``line`` without its ``\\n`` or ``\\r\\n``."""
    return line.removesuffix("\n").removesuffix("\r")


def find_match(content: str, search: str, replace: str) -> Match | MatchFailure:
    """Locate ``search`` (exactly once) in ``content`` through the tiers; build the replacement."""
    found = find_matches(content, search, replace)
    return found if isinstance(found, MatchFailure) else found[0]


def find_matches(
    content: str, search: str, replace: str, *, expected: int = 1
) -> tuple[Match, ...] | MatchFailure:
    """``expected`` non-overlapping places of ``search`` in ``content``, ascending, or why not."""
    readings = _readings(search, replace)
    for reading_search, reading_replace, whole_lines in readings:
        if not whole_lines:  # a trimmed search could match inside a line: line-based tiers only
            found = _exact(content, reading_search, reading_replace, expected)
            if found is not None:
                return found
    lines = split_lines(content)
    keys = [line.strip() for line in lines]
    for reading_search, reading_replace, _ in readings:
        search_lines = [strip_ending(line) for line in split_lines(reading_search)]
        found = _whitespace(lines, keys, search_lines, reading_replace, expected)
        if found is not None:
            return found
    if expected != 1:
        return MatchFailure(
            f"no match: expected_replacements={expected} needs {expected} exact or "
            f"whitespace-tolerant matches (the fuzzy tier only ever replaces one place)"
        )
    untrimmed = [reading for reading in readings if not reading[2]][-1]
    found_fuzzy = _fuzzy(lines, keys, untrimmed[0], untrimmed[1])
    if isinstance(found_fuzzy, Match):
        return (found_fuzzy,)
    return _maybe_already_applied(found_fuzzy, content, readings)


# --- readings of the search -------------------------------------------------------------------


def _readings(search: str, replace: str) -> list[tuple[str, str, bool]]:
    """(search, replace, whole lines only?): the search as written, then without ``read_file``
    prefixes, then without blank lines at its edges (which may then match only whole lines)."""
    readings = [(search, replace, False)]
    unprefixed = _without_line_numbers(search)
    if unprefixed is not None:
        replace = _without_line_numbers(replace) or replace
        search = unprefixed
        readings.append((search, replace, False))
    trimmed = _without_blank_edges(search, replace)
    if trimmed is not None:
        readings.append((*trimmed, True))
    return readings


def _without_line_numbers(text: str) -> str | None:
    """``text`` without ``read_file``'s ``N | `` prefixes, if every line has one and the numbers
    are consecutive; else None."""
    lines = split_lines(text)
    prefixes = [_READ_FILE_PREFIX.match(line) for line in lines]
    if not lines or any(prefix is None for prefix in prefixes):
        return None
    numbers = [int(prefix.group(1)) for prefix in prefixes if prefix is not None]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return None
    return "".join(
        line[prefix.end() :] for line, prefix in zip(lines, prefixes, strict=True) if prefix
    )


def _without_blank_edges(search: str, replace: str) -> tuple[str, str] | None:
    """Search and replace without the blank lines at the search's edges (the replacement loses
    as many blank lines at the same edge as it has), or None when there are none."""
    lines = split_lines(search)
    head = _blank_run(lines)
    tail = _blank_run(lines[::-1]) if head < len(lines) else 0
    if (not head and not tail) or head == len(lines):
        return None
    new = split_lines(replace)
    new_head = min(head, _blank_run(new))
    new_tail = min(tail, _blank_run(new[::-1]), len(new) - new_head)
    body = "".join(lines[head : len(lines) - tail])
    return body, "".join(new[new_head : len(new) - new_tail])


def _blank_run(lines: list[str]) -> int:
    count = 0
    while count < len(lines) and not lines[count].strip():
        count += 1
    return count


# --- exact ------------------------------------------------------------------------------------


def _exact(
    content: str, search: str, replace: str, expected: int
) -> tuple[Match, ...] | MatchFailure | None:
    tier = EditTier.EXACT
    starts = _occurrences(content, search)
    if not starts and "\r\n" in content and "\n" in search:
        search, replace = _to_crlf(search), _to_crlf(replace)
        tier = EditTier.WHITESPACE
        starts = _occurrences(content, search)
    if not starts:
        return None
    ranges = [(line_of(content, s), line_of(content, s + len(search) - 1)) for s in starts]
    overlapping = any(b - a < len(search) for a, b in itertools.pairwise(starts))
    if len(starts) != expected or overlapping:
        return _count_failure(tier, ranges, expected, total=content.count(search))
    new_text = _with_line_ending(replace, file_line_ending(content))
    return tuple(
        Match(tier=tier, start=start, end=start + len(search), new_text=new_text)
        for start in starts
    )


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
    """Start offsets of ``search`` (overlapping ones too), at most a few more than are shown."""
    starts: list[int] = []
    position = content.find(search) if search else -1
    while position >= 0 and len(starts) <= _MAX_CANDIDATES_SHOWN:
        starts.append(position)
        position = content.find(search, position + 1)
    return starts


def line_of(content: str, offset: int) -> int:
    """The 1-based line number of ``content[offset]``."""
    return content.count("\n", 0, max(offset, 0)) + 1


def ambiguous(
    tier: EditTier, ranges: Sequence[tuple[int, int]], *, total: int | None = None
) -> MatchFailure:
    """Several places at one tier: list their 1-based line ranges."""
    count = max(total or 0, len(ranges))
    return MatchFailure(
        f"ambiguous: the search text matches {count} places ({tier.value} tier) at lines "
        f"{_ranges_text(ranges)}; add surrounding lines to the search so it matches only one",
        OutputCode.AMBIGUOUS_MATCH,
    )


def _ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges[:_MAX_CANDIDATES_SHOWN])


def _count_failure(
    tier: EditTier, ranges: Sequence[tuple[int, int]], expected: int, *, total: int | None = None
) -> MatchFailure:
    if expected == 1:
        return ambiguous(tier, ranges, total=total)
    count = max(total or 0, len(ranges))
    return MatchFailure(
        f'expected_replacements="{expected}" but the search text matches {count} places '
        f"({tier.value} tier) at lines {_ranges_text(ranges)}; nothing was replaced"
    )


# --- whitespace -------------------------------------------------------------------------------


def _whitespace(
    lines: list[str],
    keys: list[str],
    search_lines: list[str],
    replace: str,
    expected: int,
) -> tuple[Match, ...] | MatchFailure | None:
    search_keys = [line.strip() for line in search_lines]
    if not any(search_keys):
        return None
    anchor = _longest(search_keys)  # the most distinctive line: fewest false candidates
    size = len(search_keys)
    found: list[tuple[int, Indentation]] = []
    for index in _indices(keys, search_keys[anchor]):
        start = index - anchor
        if start < 0 or start + size > len(lines):
            continue
        window = slice(start, start + size)
        indentation = window_indentation(lines[window], keys[window], search_lines, search_keys)
        if indentation is not None:
            found.append((start, indentation))
    if not found:
        return None
    overlapping = any(b - a < size for (a, _), (b, _) in itertools.pairwise(found))
    if len(found) != expected or overlapping:
        ranges = [(start + 1, start + size) for start, _ in found]
        return _count_failure(EditTier.WHITESPACE, ranges, expected)
    return tuple(
        _line_match(EditTier.WHITESPACE, lines, start, size, replace, indentation, 1.0)
        for start, indentation in found
    )


def _indices(keys: list[str], key: str) -> list[int]:
    """Every index of ``key`` in ``keys`` (``list.index`` runs at C speed)."""
    found: list[int] = []
    index = -1
    while True:
        try:
            index = keys.index(key, index + 1)
        except ValueError:
            return found
        found.append(index)


def _longest(keys: list[str]) -> int:
    return max(range(len(keys)), key=lambda index: (len(keys[index]), -index))


def _line_match(  # noqa: PLR0917
    tier: EditTier,
    lines: list[str],
    start: int,
    size: int,
    replace: str,
    indentation: Indentation,
    similarity: float,
) -> Match:
    """Replace whole lines ``start .. start+size-1`` with the re-indented replacement."""
    offset = len("".join(lines[:start]))
    window = lines[start : start + size]
    length = len("".join(window))
    eol = "\r\n" if window and window[0].endswith("\r\n") else "\n"
    new_lines = [indentation.apply(strip_ending(line)) for line in split_lines(replace)]
    new_text = eol.join(new_lines)
    if new_lines and window and window[-1].endswith("\n"):
        new_text += eol
    return Match(
        tier=tier, start=offset, end=offset + length, new_text=new_text, similarity=similarity
    )


# --- fuzzy ------------------------------------------------------------------------------------


def _fuzzy(lines: list[str], keys: list[str], search: str, replace: str) -> Match | MatchFailure:
    """The fuzzy tier, located on the search without its blank edge lines; the window then
    takes in as many of the file's blank lines at each edge as the search has there."""
    search_lines = [strip_ending(line) for line in split_lines(search)]
    head = _blank_run(search_lines)
    if head == len(search_lines):
        return MatchFailure(
            "the search text is empty; quote the lines to change", OutputCode.BAD_EDIT
        )
    tail = _blank_run(search_lines[::-1])
    core = search_lines[head : len(search_lines) - tail]
    found = locate_fuzzy(keys, [line.strip() for line in core])
    if isinstance(found, FuzzyRefusal):
        return fuzzy_failure(found, lines, EditTier.FUZZY)
    above = _blank_run(keys[found.start - head : found.start][::-1]) if head else 0
    end = found.start + found.size
    below = _blank_run(keys[end : end + tail])
    replace_lines = split_lines(replace)
    cut_head = min(head - above, _blank_run(replace_lines))
    cut_tail = min(tail - below, _blank_run(replace_lines[::-1]), len(replace_lines) - cut_head)
    replace = "".join(replace_lines[cut_head : len(replace_lines) - cut_tail])
    indentation = fuzzy_indentation(lines[found.start : end], core)
    start, size = found.start - above, found.size + above + below
    return _line_match(EditTier.FUZZY, lines, start, size, replace, indentation, found.similarity)


def fuzzy_failure(refusal: FuzzyRefusal, lines: list[str], tier: EditTier) -> MatchFailure:
    """The message for a fuzzy refusal."""
    if refusal.problem is FuzzyProblem.AMBIGUOUS:
        return ambiguous(tier, refusal.ranges)
    if refusal.closest is None:
        if not lines:
            return MatchFailure("no match: the file is empty")
        return MatchFailure("no match: nothing in the file resembles the search text")
    start, size, score = refusal.closest
    if refusal.problem is FuzzyProblem.TOO_SHORT:
        why = f"a search under {FUZZY_MIN_CHARS} characters must match exactly or up to whitespace"
    elif refusal.problem is FuzzyProblem.UNCERTAIN_EDGES:
        why = "its first or last lines do not line up with the search's"
    else:
        why = f"below the {FUZZY_THRESHOLD:.2f} threshold"
    return no_match(lines, start, size, score, why)


def no_match(lines: list[str], start: int, size: int, score: float, why: str) -> MatchFailure:
    """No place: show the closest region with its line numbers and similarity."""
    shown = lines[start : start + min(size, _REGION_LINES_SHOWN)]
    width = len(str(start + len(shown)))
    region = "".join(
        f"{start + i + 1:>{width}} | {strip_ending(line)}\n" for i, line in enumerate(shown)
    )
    more = "" if size <= _REGION_LINES_SHOWN else f"  … {size - len(shown)} more lines\n"
    return MatchFailure(
        (
            f"no match: the closest region is lines {start + 1}-{start + size} with similarity "
            f"{score:.2f} ({why}):\n{region}{more}"
            f"copy the current text from a fresh read_file into the search"
        ).rstrip("\n")
    )


def _maybe_already_applied(
    failure: MatchFailure, content: str, readings: list[tuple[str, str, bool]]
) -> MatchFailure:
    """A search that is absent while its replacement is present where the search would go
    (around the search's closest region): say the edit looks applied."""
    if not failure.reason.startswith("no match"):
        return failure
    lines = split_lines(content)
    keys = [line.strip() for line in lines]
    search_keys = [line.strip() for line in split_lines(readings[-1][0])]
    closest = closest_window(keys, search_keys)
    if closest is None:
        return failure
    low, high = closest[0] - _NEARBY_LINES, closest[0] + closest[1] + _NEARBY_LINES
    for _, replace, _ in readings:
        if not replace.strip():
            continue
        found = _exact(content, replace, replace, 1) or _whitespace(
            lines, keys, [strip_ending(line) for line in split_lines(replace)], replace, 1
        )
        if not isinstance(found, tuple):
            continue
        first = line_of(content, found[0].start)
        last = line_of(content, max(found[0].end - 1, found[0].start))
        if low < last and first <= high:
            return MatchFailure(
                f"no match: the search text is not in the file, but its replacement already is "
                f"(lines {first}-{last}): this edit looks already applied, so nothing needs "
                f"to change",
                OutputCode.ALREADY_APPLIED,
            )
    return failure
