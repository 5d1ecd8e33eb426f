"""The benchmark harness: case registry, paired timing, result rows and the table.

A case is a function ``(quick: bool) -> Iterable[Measurement]``. Every ``Measurement`` names its
subject, its baseline measured in the same run, and its goal; the table prints the ratio. Ratios,
not absolute numbers, because these machines are noisy.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Literal

CaseFunction = Callable[[bool], Iterable["Measurement"]]

_REGISTRY: dict[str, list[tuple[str, CaseFunction]]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One row of the table.

    Attributes:
        group: the benchmark group (module name).
        case: what was measured, with its parameters.
        unit: the unit of ``subject`` and ``baseline`` ("MB/s", "ms", "MiB", ...).
        subject: sa3p's figure.
        baseline_name: what sa3p is compared with.
        baseline: the baseline's figure, measured in the same run.
        goal: ``ratio >= x``, ``ratio <= x``, or an absolute ``subject <= x`` / ``subject >= x``.
        met: whether the goal is met.
    """

    group: str
    case: str
    unit: str
    subject: float
    baseline_name: str
    baseline: float
    goal: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.subject / self.baseline if self.baseline else float("inf")


def measurement(
    *,
    group: str,
    case: str,
    unit: str,
    subject: float,
    baseline_name: str,
    baseline: float,
    goal: Literal["ratio>=", "ratio<=", "subject<=", "subject>="],
    target: float,
) -> Measurement:
    """Build a row and decide whether its goal is met."""
    ratio = subject / baseline if baseline else float("inf")
    if goal == "ratio>=":
        met = ratio >= target
    elif goal == "ratio<=":
        met = ratio <= target
    elif goal == "subject<=":
        met = subject <= target
    else:
        met = subject >= target
    return Measurement(
        group=group,
        case=case,
        unit=unit,
        subject=subject,
        baseline_name=baseline_name,
        baseline=baseline,
        goal=f"{goal.replace('<=', ' <= ').replace('>=', ' >= ')}{target:g}",
        met=met,
    )


def case(group: str) -> Callable[[CaseFunction], CaseFunction]:
    """Register a case function under ``group``."""

    def register(function: CaseFunction) -> CaseFunction:
        _REGISTRY.setdefault(group, []).append((function.__name__, function))
        return function

    return register


def registered() -> dict[str, list[tuple[str, CaseFunction]]]:
    return _REGISTRY


def paired_best(
    subject: Callable[[], object], baseline: Callable[[], object], *, repeat: int = 5
) -> tuple[float, float]:
    """Best wall time in seconds of each callable, runs interleaved so drift hits both alike."""
    best_subject = best_baseline = float("inf")
    for _ in range(repeat):
        best_subject = min(best_subject, timed(subject))
        best_baseline = min(best_baseline, timed(baseline))
    return best_subject, best_baseline


def timed(function: Callable[[], object]) -> float:
    """Wall time of one call in seconds, with the garbage collector paused."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        function()
        return time.perf_counter() - start
    finally:
        gc.enable()


def render_table(rows: Iterable[Measurement]) -> str:
    """A Markdown table of the rows (the format docs/BENCHMARKS.md records)."""
    lines = [
        "| group | case | sa3p | baseline | baseline value | ratio | goal | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.group} | {row.case} | {row.subject:.4g} {row.unit} | {row.baseline_name} "
            f"| {row.baseline:.4g} {row.unit} | {row.ratio:.2f}x | {row.goal} "
            f"| {'yes' if row.met else '**no**'} |"
        )
    return "\n".join(lines)


def as_json(row: Measurement) -> dict[str, object]:
    data = asdict(row)
    data["ratio"] = row.ratio
    return data
