"""The fuzzy tier: where a search text lies in a file that holds no exact or whitespace copy of it.

Works on *keys* (lines with their leading and trailing whitespace stripped) and never reads or
writes text itself; callers turn its answer into a match or a message. Three bounded steps:

1. **Candidates.** Offsets (file line minus search line) proposed by the search's distinctive
   lines: each search line found verbatim in the file at most ``_VOTE_MAX_OCCURRENCES`` times
   votes for its offset, and the file lines most like a few long search lines (``process.extract``
   of rapidfuzz; the longest line of each of up to ``_ANCHOR_SEGMENTS`` stretches of the search,
   so a long search is anchored along its whole length, not only where its longest lines cluster).
2. **Scores.** Windows around each offset (for a short search, start and size varied by
   ``_SLACK`` lines) are ranked by a cheap line-level similarity; the best window of each group
   of overlapping ones, up to ``_SCORING_CHARS // len(search)`` groups (3 to 100), gets the
   character-level ``fuzz.ratio``. Two groups scoring within ``FUZZY_MARGIN`` of each other (and
   at least ``FUZZY_THRESHOLD``) make the search ambiguous.
3. **Alignment.** A window's boundaries are not taken from the scores: over hundreds of lines a
   window shifted by a few lines scores almost as well, which is how long searches landed on the
   wrong lines. The search is aligned line by line with the file around the best window
   (``_line_alignment``): each edge must be placed by a margin (``EDGE_MARGIN``) and pinned by
   close pairs (``EDGE_LINE_MIN``), else the edit is refused. The window between the two edges
   must itself reach ``FUZZY_THRESHOLD``.

The cost is linear in the file's size and about linear in the search's (the band grows with it).
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sa3p_engine._line_alignment import EDGE_LINE_MIN, EDGE_MARGIN, align, similarity

__all__ = [
    "EDGE_LINE_MIN",
    "EDGE_MARGIN",
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


class FuzzyProblem(enum.Enum):
    """Why the fuzzy tier found no place (``FuzzyRefusal.closest`` says how close it came)."""

    BELOW_THRESHOLD = enum.auto()
    TOO_SHORT = enum.auto()
    AMBIGUOUS = enum.auto()
    UNCERTAIN_EDGES = enum.auto()


_ANCHORS_SHORT = 3
_ANCHOR_SEGMENTS = 8
_ANCHOR_MATCHES = 8
_VOTE_MAX_OCCURRENCES = 4
_VOTE_MIN_CHARS = 4
_VOTED_OFFSETS = 8
_SLACK = 2
_SLACK_LINES = 50
"""Searches longer than this get no start/size variations: the alignment finds their edges."""
_ALIGNED_GROUPS = 5
"""For a long search, the best groups of windows are aligned before their scores are compared
(a fixed-size window of a search with dropped lines scores low); a short one's windows already
vary in start and size, so only the best group needs aligning."""
_COARSE_BELOW = 0.1
"""A best coarse score this far below the threshold refuses at once (no alignment)."""
_SCORING_CHARS = 60_000
_MIN_SCORED = 3
_MAX_SCORED = 100


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
        return FuzzyRefusal(problem=FuzzyProblem.BELOW_THRESHOLD)
    needle = "\n".join(search_keys)
    scores = _score_windows(keys, search_keys, needle)
    if not scores:
        return FuzzyRefusal(problem=FuzzyProblem.BELOW_THRESHOLD)
    ranked = sorted(scores.items(), key=_rank, reverse=True)
    (start, size), best = ranked[0]
    closest = (start, size, best)
    short = len(needle) < FUZZY_MIN_CHARS
    if best < FUZZY_THRESHOLD - (0.0 if short else _COARSE_BELOW):
        return FuzzyRefusal(problem=FuzzyProblem.BELOW_THRESHOLD, closest=closest)
    if short:
        return FuzzyRefusal(problem=FuzzyProblem.TOO_SHORT, closest=closest)
    groups = _per_group(ranked)
    long_search = len(search_keys) > _SLACK_LINES
    places = [
        _Place.of(keys, search_keys, needle, window, score)
        if index == 0 or (long_search and index < _ALIGNED_GROUPS)
        else _Place(window[0], window[1], score, None)
        for index, (window, score) in enumerate(groups)
    ]
    top = max(places, key=lambda place: place.score)
    floor = max(FUZZY_THRESHOLD, top.score - FUZZY_MARGIN)
    rivals = [place for place in places if place.score >= floor and not place.overlaps(top)]
    if rivals:
        ranges = {(top.start + 1, top.start + top.size)}
        ranges |= _merge([(place.start, place.size) for place in rivals])
        return FuzzyRefusal(
            problem=FuzzyProblem.AMBIGUOUS, closest=closest, ranges=tuple(sorted(ranges))
        )
    if top.pairs is None or (one_to_one and not _one_to_one(top.pairs, len(search_keys))):
        return FuzzyRefusal(problem=FuzzyProblem.UNCERTAIN_EDGES, closest=closest)
    if top.score < FUZZY_THRESHOLD:
        return FuzzyRefusal(
            problem=FuzzyProblem.BELOW_THRESHOLD, closest=(top.start, top.size, top.score)
        )
    return FuzzyWindow(start=top.start, size=top.size, similarity=top.score, pairs=tuple(top.pairs))


@dataclass(frozen=True, slots=True)
class _Place:
    """A candidate place: the aligned window and its score, or for a window that is no match
    (too low, or edges uncertain) its coarse window and score (``pairs`` None)."""

    start: int
    size: int
    score: float
    pairs: list[tuple[int, int, float]] | None

    @classmethod
    def of(
        cls,
        keys: Sequence[str],
        search_keys: Sequence[str],
        needle: str,
        window: tuple[int, int],
        coarse: float,
    ) -> _Place:
        """Align a window that could match; a hopeless one keeps its coarse score."""
        if coarse < FUZZY_THRESHOLD - _COARSE_BELOW:
            return cls(window[0], window[1], coarse, None)
        pairs = align(keys, search_keys, *window)
        if pairs is None:
            return cls(window[0], window[1], coarse, None)
        first, last = pairs[0][1], pairs[-1][1]
        score = similarity(needle, "\n".join(keys[first : last + 1]))
        return cls(first, last + 1 - first, score, pairs)

    def overlaps(self, other: _Place) -> bool:
        return self.start < other.start + other.size and other.start < self.start + self.size


def _per_group(
    ranked: list[tuple[tuple[int, int], float]],
) -> list[tuple[tuple[int, int], float]]:
    """The best-scoring window of each group of overlapping windows (``ranked``: best first)."""
    kept: list[tuple[tuple[int, int], float]] = []
    for (start, size), score in ranked:
        if all(start + size <= other or start >= other + length for (other, length), _ in kept):
            kept.append(((start, size), score))
    return kept


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
    distance from the proposed offset; the best ``budget`` get the character ``ratio`` (for a
    long search, only the best of each group of overlapping windows: the alignment finds its
    edges, and each group costs a ratio over the whole search).
    """
    from rapidfuzz import fuzz  # noqa: PLC0415 - see similarity()
    from rapidfuzz.distance import Indel  # noqa: PLC0415

    windows = _candidate_windows(keys, search_keys)

    def rank(window: tuple[int, int]) -> tuple[float, int, int, int]:
        start, size = window
        token = Indel.normalized_similarity(search_keys, keys[start : start + size])
        return (-token, windows[window], start, size)

    budget = max(_MIN_SCORED, min(_MAX_SCORED, _SCORING_CHARS // max(len(needle), 1)))
    one_per_group = len(search_keys) > _SLACK_LINES  # long: a few scores, each far apart
    chosen: list[tuple[int, int]] = []
    for start, size in sorted(windows, key=rank):
        if len(chosen) == budget:
            break
        if not one_per_group or all(
            start + size <= other or start >= other + length for other, length in chosen
        ):
            chosen.append((start, size))
    return {
        (start, size): fuzz.ratio(needle, "\n".join(keys[start : start + size])) / 100.0
        for start, size in chosen
    }


def _candidate_windows(
    keys: Sequence[str], search_keys: Sequence[str]
) -> dict[tuple[int, int], int]:
    """Windows near the proposed offsets, with their distance (lines of shift plus lines of size
    change) from the proposed position."""
    from rapidfuzz import fuzz, process  # noqa: PLC0415 - see similarity()

    size = len(search_keys)
    slack = _SLACK if size <= _SLACK_LINES else 0
    windows: dict[tuple[int, int], int] = {}
    for offset in _voted_offsets(keys, search_keys):
        _windows_around(len(keys), offset, size, slack, windows)
    for anchor in _anchor_lines(search_keys):
        hits = process.extract(search_keys[anchor], keys, scorer=fuzz.ratio, limit=_ANCHOR_MATCHES)
        for _, _, index in hits:
            _windows_around(len(keys), index - anchor, size, slack, windows)
    return windows


def _voted_offsets(keys: Sequence[str], search_keys: Sequence[str]) -> list[int]:
    """Offsets proposed by search lines found verbatim, and rarely, in the file."""
    wanted = {key for key in search_keys if len(key) >= _VOTE_MIN_CHARS}
    positions: dict[str, list[int]] = {}
    if len(wanted) <= _ANCHOR_SEGMENTS:  # a few searches at C speed beat one Python loop
        for key in wanted:
            positions[key] = _positions(keys, key, _VOTE_MAX_OCCURRENCES + 1)
    else:
        for index, key in enumerate(keys):
            if key in wanted:
                positions.setdefault(key, []).append(index)
    votes: Counter[int] = Counter()
    for index, key in enumerate(search_keys):
        found = positions.get(key)
        if found is not None and len(found) <= _VOTE_MAX_OCCURRENCES:
            votes.update(position - index for position in found)
    return [offset for offset, _ in votes.most_common(_VOTED_OFFSETS)]


def _positions(keys: Sequence[str], key: str, most: int) -> list[int]:
    """Up to ``most`` indices of ``key`` in ``keys``."""
    found: list[int] = []
    index = -1
    while len(found) < most:
        try:
            index = keys.index(key, index + 1)
        except ValueError:
            break
        found.append(index)
    return found


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


def _windows_around(
    total: int, start: int, size: int, slack: int, windows: dict[tuple[int, int], int]
) -> None:
    for shift in range(-slack, slack + 1):
        for grow in range(-slack, slack + 1):
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
