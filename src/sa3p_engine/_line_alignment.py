"""Aligning a search line by line with the file around a candidate place, to find its edges.

A banded semi-global alignment (Needleman-Wunsch restricted to a band around the window's
diagonal; lines of the file before and after the match are free): a matched pair of lines scores
``(similarity - 0.7) / 0.3`` (1 when equal, negative below 0.7), a skipped line ``-_GAP``. It runs
forwards and backwards: the forward pass decides where the last search line lies, the backward
pass where the first one does. An edge is accepted only when

- placing that line anywhere else scores at least ``EDGE_MARGIN`` worse, and
- from it to the nearest *distinctive* pair (a line of at least ``_DISTINCT_CHARS`` characters),
  every pair is at least ``EDGE_LINE_MIN`` similar and no non-blank line is skipped: short lines
  such as ``),`` or ``}``, or a list of near-identical names, do not tell one position from its
  neighbour.

Otherwise the edges are uncertain and the caller refuses the edit. The band is
``_BAND + len(search) // _BAND_LINES`` lines, three times that on a second try when a best path
touched its edge; the cost is about ``len(search) * band`` similarity computations.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

__all__ = ["EDGE_LINE_MIN", "EDGE_MARGIN", "align", "similarity"]

EDGE_LINE_MIN = 0.8
"""The first and last lines of a search must each be at least this similar to the file line they
are aligned with (and so must every line between them and the nearest distinctive pair): they
decide where the replaced region starts and ends."""

EDGE_MARGIN = 0.15
"""...and placing either of them anywhere else must score at least this much worse."""

_DISTINCT_CHARS = 8
_GAP = 0.3
_MATCH_FLOOR = 0.7
"""A pair of lines scores ``(similarity - _MATCH_FLOOR) / (1 - _MATCH_FLOOR)``: 1 when equal, 0
at 0.7, negative below, so a path of near-misses (a list of similar names shifted by one) never
beats the true path with a skipped line."""
_BAND = 6
_BAND_LINES = 100


def similarity(left: str, right: str) -> float:
    """rapidfuzz ``ratio`` / 100 (1.0 for two empty strings)."""
    from rapidfuzz import fuzz  # noqa: PLC0415 - ~8 ms of start-up only a fuzzy match needs

    return fuzz.ratio(left, right) / 100.0


def align(
    keys: Sequence[str], search_keys: Sequence[str], start: int, size: int
) -> list[tuple[int, int, float]] | None:
    """The aligned (search index, file index, similarity) pairs from the search's first line to
    its last, for the window ``keys[start:start + size]``, or None when either edge is uncertain.

    Args:
        keys: the file's lines, stripped.
        search_keys: the search's lines, stripped (its first and last not blank).
        start: the candidate window's first line.
        size: its number of lines.
    """
    band = _BAND + len(search_keys) // _BAND_LINES
    for width in (band, 3 * band):
        low = max(0, start - width)
        region = keys[low : min(len(keys), start + size + width)]
        count = len(search_keys)
        centres = [start - low + round(i * size / count) for i in range(count + 1)]
        forward = _Table(region, search_keys, width).run(centres)
        mirrored = [len(region) - centre for centre in reversed(centres)]
        backward = _Table(region[::-1], search_keys[::-1], width).run(mirrored)
        if forward is not None and backward is not None:
            break
    else:
        return None
    pairs, (last_margin, _) = forward
    _, (first_margin, first_column) = backward
    first = len(region) - first_column
    if not pairs or pairs[0][0] != 0 or pairs[-1][0] != len(search_keys) - 1:
        return None
    if pairs[0][1] != first or min(first_margin, last_margin) < EDGE_MARGIN:
        return None
    if not _pinned(pairs, region, search_keys) or not _pinned(pairs[::-1], region, search_keys):
        return None
    return [(index, low + position, score) for index, position, score in pairs]


def _pinned(
    pairs: list[tuple[int, int, float]], region: Sequence[str], search_keys: Sequence[str]
) -> bool:
    """Whether the path, from its first pair to the first distinctive one, holds only close
    pairs and skips no line but blank ones (``pairs`` may be given reversed, for the other
    edge)."""
    for (index, position, score), (next_index, next_position, _) in itertools.pairwise(pairs):
        if score < EDGE_LINE_MIN:
            return False
        if len(search_keys[index]) >= _DISTINCT_CHARS:
            return True
        low, high = sorted((index, next_index))
        skipped = [*search_keys[low + 1 : high]]
        low, high = sorted((position, next_position))
        skipped += region[low + 1 : high]
        if any(skipped):
            return False
    return pairs[-1][2] >= EDGE_LINE_MIN


_DIAGONAL, _SKIP_SEARCH, _SKIP_FILE = 0, 1, 2
_SPAN = 1.0 - _MATCH_FLOOR


class _Table:
    """One banded alignment of a search within a region of the file.

    Row ``i`` holds alignments of the first ``i`` search lines; column ``j`` counts region lines
    consumed. Only columns within ``band`` of ``centres[i]`` are computed.
    """

    def __init__(self, region: Sequence[str], search_keys: Sequence[str], band: int) -> None:
        self.region = region
        self.search_keys = search_keys
        self.band = band
        self.rows: list[tuple[int, list[float]]] = []
        self.moves: list[bytearray] = []

    def run(
        self, centres: list[int]
    ) -> tuple[list[tuple[int, int, float]], tuple[float, int]] | None:
        """(pairs of the best path, (margin, column) of its last search line), or None when
        the path touches the band's edge (it may have been cut short)."""
        first = max(0, centres[0] - self.band)
        last = min(len(self.region), centres[0] + self.band)
        self.rows.append((first, [0.0] * (last - first + 1)))  # leading file lines are free
        self.moves.append(bytearray(last - first + 1))
        for index in range(1, len(centres)):
            self._row(self.search_keys[index - 1], centres[index])
        ends = self._last_line_scores()
        if not ends:
            return None
        column = max(ends, key=lambda j: (ends[j], -j))
        others = [score for j, score in ends.items() if j != column]
        margin = ends[column] - max(others, default=float("-inf"))
        pairs = self._trace(column)
        if pairs is None or self._touches_band(pairs, centres):
            return None
        return pairs, (margin, column)

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
                best = before[j - 1 - before_first] + (score - _MATCH_FLOOR) / _SPAN
            if before_first <= j <= before_last and before[j - before_first] - _GAP > best:
                best, step = before[j - before_first] - _GAP, _SKIP_SEARCH
            if j > first and row[j - 1 - first] - _GAP > best:
                best, step = row[j - 1 - first] - _GAP, _SKIP_FILE
            row[j - first] = best
            move[j - first] = step
        self.rows.append((first, row))
        self.moves.append(move)

    def _last_line_scores(self) -> dict[int, float]:
        """For each column ``j``: the best score of a path whose last search line is matched
        with region line ``j - 1``."""
        before_first, before = self.rows[-2]
        last_first, last_row = self.rows[-1]
        search_key = self.search_keys[-1]
        scores: dict[int, float] = {}
        for j in range(max(last_first, before_first + 1), last_first + len(last_row)):
            if j - 1 - before_first >= len(before) or before[j - 1 - before_first] == float("-inf"):
                continue
            score = similarity(search_key, self.region[j - 1])
            scores[j] = before[j - 1 - before_first] + (score - _MATCH_FLOOR) / _SPAN
        return scores

    def _trace(self, column: int) -> list[tuple[int, int, float]] | None:
        """The aligned (search index, region index, similarity) pairs of the best path whose
        last search line is matched at ``column``, ascending."""
        pairs: list[tuple[int, int, float]] = []
        i, j, step = len(self.rows) - 1, column, _DIAGONAL
        while i > 0:
            first, row = self.rows[i]
            if not first <= j < first + len(row) or row[j - first] == float("-inf"):
                return None
            if step == _DIAGONAL:
                score = similarity(self.search_keys[i - 1], self.region[j - 1])
                pairs.append((i - 1, j - 1, score))
                i, j = i - 1, j - 1
            elif step == _SKIP_SEARCH:
                i -= 1
            else:
                j -= 1
            if i > 0:
                first, row = self.rows[i]
                step = self.moves[i][j - first] if first <= j < first + len(row) else _DIAGONAL
        pairs.reverse()
        return pairs

    def _touches_band(self, pairs: list[tuple[int, int, float]], centres: list[int]) -> bool:
        """Whether a pair lies on the band's edge (the region's end does not count)."""
        for index, position, _ in pairs:
            column = position + 1
            centre = centres[index + 1]
            if column - 1 <= centre - self.band or centre + self.band <= column < len(self.region):
                return True
        return False
