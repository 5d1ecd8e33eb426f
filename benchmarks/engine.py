"""Engine benchmarks: the fuzzy edit tier on a large file, and the engine's per-command overhead.

- ``fuzzy_edit_10k_lines``: an ``apply_edit`` whose search has typos (so only the fuzzy tier
  finds it) in a 10,000-line file, through the whole engine (read, hash, match, write) on a
  ``MemoryFileSystem``. Goal: <= 50 ms. Baseline: the same edit without the typos (exact tier).
- ``read_file_overhead``: one ``read_file`` of a 400-line file through the engine (attributes,
  state machine, output value) against doing the same work by hand on the same filesystem (read,
  SHA-256, line numbering). Goal: ratio <= 2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_engine import ApplyEditOutput, EditTier, Engine, ReadFileOutput
from sa3p_engine.testing import MemoryFileSystem, ScriptedTerminal
from sa3p_parser import EndTag, Instruction, RawChunk, StartTag, Text

GROUP = "engine"


def _source(lines: int) -> list[str]:
    """Varied, code-like lines (repetitive enough to be realistic, distinct enough to match)."""
    words = [hashlib.sha256(str(n).encode()).hexdigest()[:8] for n in range(lines)]
    return [
        f"    result_{words[n]} = compute(items[{n}], key='{words[(n * 7) % lines]}')\n"
        for n in range(lines)
    ]


def _edit(search: str, replace: str) -> list[Instruction]:
    return [
        StartTag("apply_edit", {"path": "big.py"}),
        StartTag("search"),
        RawChunk("search", search.encode()),
        EndTag("search"),
        Text("\n"),
        StartTag("replace"),
        RawChunk("replace", replace.encode()),
        EndTag("replace"),
        EndTag("apply_edit"),
    ]


def _run_edit(data: bytes, instructions: list[Instruction], tier: EditTier) -> None:
    engine = Engine(MemoryFileSystem({"big.py": data}), ScriptedTerminal())
    outputs = [output for item in instructions for output in engine.feed(item)]
    assert isinstance(outputs[-1], ApplyEditOutput), outputs[-1].render()
    assert outputs[-1].edits[0].tier is tier


@case(GROUP)
def fuzzy_edit_10k_lines(quick: bool) -> Iterable[Measurement]:
    lines = _source(10_000)
    data = "".join(lines).encode()
    exact = "".join(lines[6000:6008])
    typo = exact.replace("compute(", "compte(", 2).replace("key=", "kye=", 1)
    replace = "    pass\n"
    fuzzy_edit = _edit(typo, replace)
    exact_edit = _edit(exact, replace)
    subject, baseline = paired_best(
        lambda: _run_edit(data, fuzzy_edit, EditTier.FUZZY),
        lambda: _run_edit(data, exact_edit, EditTier.EXACT),
        repeat=3 if quick else 10,
    )
    yield measurement(
        group=GROUP,
        case="apply_edit fuzzy tier, 10,000-line file (640 KB), 8-line search",
        unit="ms",
        subject=subject * 1000,
        baseline_name="same edit, exact tier",
        baseline=baseline * 1000,
        goal="subject<=",
        target=50,
    )


@case(GROUP)
def read_file_overhead(quick: bool) -> Iterable[Measurement]:
    data = "".join(_source(400)).encode()
    vfs = MemoryFileSystem({"f.py": data})
    engine = Engine(vfs, ScriptedTerminal())
    start, end = StartTag("read_file", {"path": "f.py"}), EndTag("read_file")
    calls = 50 if quick else 200

    def through_engine() -> None:
        for _ in range(calls):
            engine.feed(start)
            [output] = engine.feed(end)
            assert isinstance(output, ReadFileOutput)

    def by_hand() -> None:
        for _ in range(calls):
            content = vfs.read("f.py")
            hashlib.sha256(content).hexdigest()
            lines = content.decode("utf-8").split("\n")
            "".join(f"{n:>3} | {line}\n" for n, line in enumerate(lines, start=1))

    subject, baseline = paired_best(through_engine, by_hand, repeat=3 if quick else 7)
    yield measurement(
        group=GROUP,
        case="read_file of a 400-line file (30 KB), per call",
        unit="µs",
        subject=subject / calls * 1e6,
        baseline_name="VFS read + sha256 + numbering by hand",
        baseline=baseline / calls * 1e6,
        goal="ratio<=",
        target=2,
    )
