"""The fuzzy tier: where a search text lies in a file that holds no exact or whitespace copy of it.

Works on *keys* (lines with their leading and trailing whitespace stripped) and never reads or
writes text itself; callers turn its answer into a match or a message. Three bounded steps:

1. **Candidates.** Offsets (file line minus search line) proposed by the search's distinctive
   lines: each search line found verbatim in the file at most ``_VOTE_MAX_OCCURRENCES`` times
   votes for its offset, and the file lines most like a few long search lines (``process.extract``
   of rapidfuzz; the longest line of each of up to ``_ANCHOR_SEGMENTS`` stretches of the search,
   so a long search is anchored along its whole length, not only where its longest lines cluster).
2. **Scores.** Windows around each offset, start and size varied by ``_SLACK`` lines, are ranked
   by a cheap line-level similarity; only the best ``_SCORING_CHARS // len(search)`` (3 to 100)
   get the character-level ``fuzz.ratio``. The best must reach ``FUZZY_THRESHOLD`` and lead every
   window that does not overlap it by ``FUZZY_MARGIN``, or the search is ambiguous.
3. **Alignment.** A window's boundaries are not taken from the scores: over hundreds of lines a
   window shifted by a few lines scores almost as well, which is how long searches landed on the
   wrong lines. The search is aligned line by line with the file around the best window (banded
   semi-global alignment: a matched pair scores ``2 * similarity - 1``, a skipped line
   ``-_GAP``; lines of the file before and after the match are free). The window is the span of
   the aligned file lines, and the search's first and last lines must both be aligned, each at
   least ``EDGE_LINE_MIN`` similar to its file line; else the edges are uncertain and the edit is
   refused. The aligned window's own ratio must still reach the threshold.

The cost is linear in the file's size and about linear in the search's (the band grows with it).
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "EDGE_LINE_MIN",
    "FUZZY_MARGIN",
    "FUZZY_MIN_CHARS",
    "FUZZY_THRESHOLD",
    "FuzzyProblem",
    "FuzzyRefusal",
    "FuzzyWindow",
    "closest_window",
    "locate_fuzzy",
    "similarity",
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

EDGE_LINE_MIN = 0.6
"""The first and last lines of a search must each be at least this similar to the file line they
are aligned with: they decide where the replaced region starts and ends."""

_ANCHORS_SHORT = 3
_ANCHOR_SEGMENTS = 8
_ANCHOR_MATCHES = 8
_VOTE_MAX_OCCURRENCES = 4
_VOTE_MIN_CHARS = 4
_VOTED_OFFSETS = 8
_SLACK = 2
_SCORING_CHARS = 200_000
_MIN_SCORED = 3
_MAX_SCORED = 100
_GAP = 0.6
_BAND = 8
_BAND_LINES = 50
"""The alignment band is ``_BAND + len(search) // _BAND_LINES`` lines either side of the window's
diagonal, and three times that on a second try when the best path touched the band's edge."""


class FuzzyProblem(enum.Enum):
    """Why the fuzzy tier found no place."""

    EMPTY_FILE = "empty_file"
    NOTHING_ALIKE = "nothing_alike"
    TOO_SHORT = "too_short"
    BELOW_THRESHOLD = "below_threshold"
    AMBIGUOUS = "ambiguous"
    UNCERTAIN_EDGES = "uncertain_edges"


@dataclass(frozen=True, slots=True, kw_only=True)
class FuzzyWindow:
    """The file lines ``start .. start + size - 1`` (0-based) hold the search.

    ``pairs`` aligns search lines with file lines: ``(search index, file index, similarity)``,
    ascending; a search line missing from it has no counterpart in the file (and the other way).
    """

    start: int
    size: int
    similarity: float
    pairs: tuple[tuple[int, int, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FuzzyRefusal:
    """No place: ``closest`` is the best window seen (start, size, similarity), if any;
    ``ranges`` the 1-based line ranges of the candidates when ambiguous."""

    problem: FuzzyProblem
    closest: tuple[int, int, float] | None = None
    ranges: tuple[tuple[int, int], ...] = ()


def similarity(left: str, right: str) -> float:
    """rapidfuzz ``ratio`` / 100 (1.0 for two empty strings)."""
    from rapidfuzz import fuzz  # noqa: PLC0415 - ~8 ms of start-up only a fuzzy match needs

    return fuzz.ratio(left, right) / 100.0


def closest_window(
    keys: Sequence[str], search_keys: Sequence[str]
) -> tuple[int, int, float] | None:
    """The best-scoring window (start, size, similarity), for a "closest region" message."""
    if not keys or not any(search_keys):
        return None
    scores = _score_windows(keys, search_keys, "\n".join(search_keys))
    if not scores:
        return None
    (start, size), score = max(scores.items(), key=_rank)
    return start, size, score


def locate_fuzzy(
    keys: Sequence[str], search_keys: Sequence[str], *, one_to_one: bool = False
) -> FuzzyWindow | FuzzyRefusal:
    """Where ``search_keys`` lies in ``keys`` (both stripped lines), or why nowhere.

    Args:
        keys: the file's lines, stripped.
        search_keys: the search's lines, stripped; its first and last should not be blank.
        one_to_one: every search line must be aligned with exactly one file line and the window
            must have as many lines as the search (a diff hunk, whose lines are kept or removed
            one by one).
    """
    if not keys:
        return FuzzyRefusal(problem=FuzzyProblem.EMPTY_FILE)
    needle = "\n".join(search_keys)
    scores = _score_windows(keys, search_keys, needle)
    if not scores:
        return FuzzyRefusal(problem=FuzzyProblem.NOTHING_ALIKE)
    (start, size), best = max(scores.items(), key=_rank)
    closest = (start, size, best)
    if best < FUZZY_THRESHOLD:
        return FuzzyRefusal(problem=FuzzyProblem.BELOW_THRESHOLD, closest=closest)
    if len(needle) < FUZZY_MIN_CHARS:
        return FuzzyRefusal(problem=FuzzyProblem.TOO_SHORT, closest=closest)
    pairs = _align(keys, search_keys, start, size)
    if pairs is None or (one_to_one and not _one_to_one(pairs, len(search_keys))):
        return FuzzyRefusal(problem=FuzzyProblem.UNCERTAIN_EDGES, closest=closest)
    first, last = pairs[0][1], pairs[-1][1]
    score = similarity(needle, "\n".join(keys[first : last + 1]))
    if score < FUZZY_THRESHOLD:
        return FuzzyRefusal(
            problem=FuzzyProblem.BELOW_THRESHOLD, closest=(first, last + 1 - first, score)
        )
    floor = max(FUZZY_THRESHOLD, max(best, score) - FUZZY_MARGIN)
    rivals = [
        window
        for window, value in scores.items()
        if value >= floor and (window[0] + window[1] <= first or window[0] > last)
    ]
    if rivals:
        ranges = sorted({(first + 1, last + 1)} | _merge(rivals))
        return FuzzyRefusal(problem=FuzzyProblem.AMBIGUOUS, closest=closest, ranges=tuple(ranges))
    return FuzzyWindow(start=first, size=last + 1 - first, similarity=score, pairs=tuple(pairs))


def _rank(item: tuple[tuple[int, int], float]) -> tuple[float, int, int]:
    (start, size), score = item
    return (score, -start, -size)


def _one_to_one(pairs: list[tuple[int, int, float]], count: int) -> bool:
    return len(pairs) == count and pairs[-1][1] - pairs[0][1] == count - 1


# --- candidates and scores --------------------------------------------------------------------


def _score_windows(
    keys: Sequence[str], search_keys: Sequence[str], needle: str
) -> dict[tuple[int, int], float]:
    """Character similarity of the search to the most promising candidate windows (start, size).

    Candidates are ranked by a line-level similarity (lines as tokens, cheap) and by their
    distance from the proposed offset; only the best ``budget`` get the character ``ratio``.
    """
    from rapidfuzz import fuzz  # noqa: PLC0415 - see similarity()
    from rapidfuzz.distance import Indel  # noqa: PLC0415

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


def _candidate_windows(
    keys: Sequence[str], search_keys: Sequence[str]
) -> dict[tuple[int, int], int]:
    """Windows near the proposed offsets, with their distance (lines of shift plus lines of size
    change) from the proposed position."""
    from rapidfuzz import fuzz, process  # noqa: PLC0415 - see similarity()

    size = len(search_keys)
    windows: dict[tuple[int, int], int] = {}
    for offset in _voted_offsets(keys, search_keys):
        _windows_around(len(keys), offset, size, windows)
    for anchor in _anchor_lines(search_keys):
        hits = process.extract(search_keys[anchor], keys, scorer=fuzz.ratio, limit=_ANCHOR_MATCHES)
        for _, _, index in hits:
            _windows_around(len(keys), index - anchor, size, windows)
    return windows


def _voted_offsets(keys: Sequence[str], search_keys: Sequence[str]) -> list[int]:
    """Offsets proposed by search lines found verbatim, and rarely, in the file."""
    wanted = {key for key in search_keys if len(key) >= _VOTE_MIN_CHARS}
    positions: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        if key in wanted:
            positions.setdefault(key, []).append(index)
    votes: Counter[int] = Counter()
    for index, key in enumerate(search_keys):
        found = positions.get(key)
        if found is not None and len(found) <= _VOTE_MAX_OCCURRENCES:
            votes.update(position - index for position in found)
    return [offset for offset, _ in votes.most_common(_VOTED_OFFSETS)]


def _anchor_lines(search_keys: Sequence[str]) -> list[int]:
    """The search's longest lines: the 3 longest of a short search, else the longest of each of
    ``_ANCHOR_SEGMENTS`` equal stretches."""
    size = len(search_keys)
    if size <= _ANCHOR_SEGMENTS:
        return sorted(range(size), key=lambda i: (-len(search_keys[i]), i))[:_ANCHORS_SHORT]
    bounds = [size * part // _ANCHOR_SEGMENTS for part in range(_ANCHOR_SEGMENTS + 1)]
    return [
        max(range(low, high), key=lambda i: (len(search_keys[i]), -i))
        for low, high in itertools.pairwise(bounds)
        if high > low
    ]


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


# --- alignment --------------------------------------------------------------------------------


def _align(
    keys: Sequence[str], search_keys: Sequence[str], start: int, size: int
) -> list[tuple[int, int, float]] | None:
    """The aligned (search index, file index, similarity) pairs around the window, or None when
    the search's first or last line has no sure counterpart."""
    band = _BAND + len(search_keys) // _BAND_LINES
    pairs = _banded_alignment(keys, search_keys, start, size, band)
    if pairs is None:
        pairs = _banded_alignment(keys, search_keys, start, size, 3 * band)
    if not pairs:
        return None
    (first, _, first_score), (last, _, last_score) = pairs[0], pairs[-1]
    if first != 0 or last != len(search_keys) - 1:
        return None
    if min(first_score, last_score) < EDGE_LINE_MIN:
        return None
    return pairs


_DIAGONAL, _SKIP_SEARCH, _SKIP_FILE = 0, 1, 2


def _banded_alignment(
    keys: Sequence[str], search_keys: Sequence[str], start: int, size: int, band: int
) -> list[tuple[int, int, float]] | None:
    """Semi-global alignment of the whole search within ``keys`` near the window.

    Row ``i`` holds alignments of the first ``i`` search lines; column ``j`` counts file lines
    consumed from ``low``. Only columns within ``band`` of the window's diagonal are computed.
    Returns None when the best path touches the band's edge (it may have been cut short).
    """
    count = len(search_keys)
    low = max(0, start - band)
    high = min(len(keys), start + size + band)
    centres = [start - low + round(i * size / count) for i in range(count + 1)]
    table = _Table(keys[low:high], search_keys, band)
    table.fill(centres)
    pairs = table.trace()
    if pairs is None or _touches_band(pairs, centres, band, len(keys) - low):
        return None
    return [(index, low + position, score) for index, position, score in pairs]


class _Table:
    """The alignment's rows: for each, its first column, its scores and the move into each cell."""

    def __init__(self, region: Sequence[str], search_keys: Sequence[str], band: int) -> None:
        self.region = region
        self.search_keys = search_keys
        self.band = band
        self.rows: list[tuple[int, list[float]]] = []
        self.moves: list[bytearray] = []

    def fill(self, centres: list[int]) -> None:
        first = max(0, centres[0] - self.band)
        last = min(len(self.region), centres[0] + self.band)
        self.rows.append((first, [0.0] * (last - first + 1)))  # leading file lines are free
        self.moves.append(bytearray(last - first + 1))
        for index in range(1, len(centres)):
            self._row(self.search_keys[index - 1], centres[index])

    def _row(self, search_key: str, centre: int) -> None:
        from rapidfuzz import fuzz  # noqa: PLC0415 - see similarity()

        ratio, region, negative = fuzz.ratio, self.region, float("-inf")
        before_first, before = self.rows[-1]
        before_last = before_first + len(before) - 1
        first = max(0, centre - self.band)
        last = min(len(region), centre + self.band)
        row = [negative] * (last - first + 1)
        move = bytearray(len(row))
        for j in range(first, last + 1):
            best, step = negative, _DIAGONAL
            if before_first <= j - 1 <= before_last:
                key = region[j - 1]
                score = 1.0 if key == search_key else ratio(search_key, key) / 100.0
                best = before[j - 1 - before_first] + 2.0 * score - 1.0
            if before_first <= j <= before_last and before[j - before_first] - _GAP > best:
                best, step = before[j - before_first] - _GAP, _SKIP_SEARCH
            if j > first and row[j - 1 - first] - _GAP > best:
                best, step = row[j - 1 - first] - _GAP, _SKIP_FILE
            row[j - first] = best
            move[j - first] = step
        self.rows.append((first, row))
        self.moves.append(move)

    def trace(self) -> list[tuple[int, int, float]] | None:
        """The aligned (search index, region index, similarity) pairs of the best path that
        uses every search row (trailing file lines are free), ascending."""
        last_first, last_row = self.rows[-1]
        j = max(range(len(last_row)), key=lambda k: (last_row[k], -k)) + last_first
        pairs: list[tuple[int, int, float]] = []
        i = len(self.rows) - 1
        while i > 0:
            first, row = self.rows[i]
            if not first <= j < first + len(row) or row[j - first] == float("-inf"):
                return None
            step = self.moves[i][j - first]
            if step == _DIAGONAL:
                score = similarity(self.search_keys[i - 1], self.region[j - 1])
                pairs.append((i - 1, j - 1, score))
                i, j = i - 1, j - 1
            elif step == _SKIP_SEARCH:
                i -= 1
            else:
                j -= 1
        pairs.reverse()
        return pairs


def _touches_band(
    pairs: list[tuple[int, int, float]], centres: list[int], band: int, width: int
) -> bool:
    """Whether a pair lies on the band's edge (the file's own end does not count)."""
    for index, position, _ in pairs:
        column = position + 1
        centre = centres[index + 1]
        if column - 1 <= centre - band or centre + band <= column < width:
            return True
    return False
