"""Benchmarks of the local host: streamed writes through `sa3p run`, terminal start-up, listing.

Each figure is measured against its baseline in the same run:

- a 256 MiB ``write_file`` piped through ``sa3p run`` (a subprocess): its peak resident memory
  (absolute goal, 64 MiB) and its throughput against ``cat > file`` of the same bytes, and (an
  extra row) against ``cat > file && sync file``: ``sa3p run`` fsyncs before its rename, as the
  spec requires, so a durable copy is the like-for-like baseline. Each run is timed around the
  command alone (not the wrapper that measures it), and everything is flushed to disk (untimed)
  before each run, so no run pays for the write-back of the previous one's dirty pages;
- ``<terminal>true</terminal>`` through parser + engine + ``LocalTerminal`` against
  ``subprocess.run(["bash", "-c", "true"])``;
- the peak resident memory of ``sa3p run`` over one turn of 12,000 ``read_file`` commands of a
  5 KB file (60 MB of results in full; the turn's output budget reduces them) against the same
  ``sa3p run`` reading an empty reply (absolute goal, 64 MiB);
- ``<list_files/>`` over a 10,000-file tree (engine + ``LocalVfs``) against ``git ls-files
  --cached --others --exclude-standard`` on the same tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_engine import Engine
from sa3p_host import LocalTerminal, LocalVfs
from sa3p_parser import InstructionParser

GROUP = "host"
MIB = 1 << 20
# This run's own local backends: the local figures, apart from sessions (benchmarks/sessions.py).
_SA3P_RUN = [
    *(sys.executable, "-m", "sa3p_host", "run", "--ephemeral", "--sandbox", "none"),
    "--workspace",
]

# Runs a command and prints the peak RSS (KiB) of its process tree's largest process (the
# wrapper's RUSAGE_CHILDREN only covers what it waited for, i.e. exactly that command) and the
# command's wall time in seconds.
_MAX_RSS_WRAPPER = (
    "import os, resource, subprocess, sys, time\n"
    "with open(sys.argv[1], 'rb') as source, open(sys.argv[2], 'wb') as sink:\n"
    "    os.sync()\n"
    "    start = time.perf_counter()\n"
    "    subprocess.run(sys.argv[3:], stdin=source, stdout=sink, check=True)\n"
    "    elapsed = time.perf_counter() - start\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, elapsed)\n"
)

_LINES = (
    b"def scale(values, factor):\n",
    b"    return [v * factor for v in values if v < 10 and v > -10]  # keep small ones\n",
    b"    # a comment with <angle> brackets & ampersands that are not tags\n",
    b"\n",
)


def _body(size: int) -> bytes:
    block = b"".join(_LINES) * 64
    return (block * (size // len(block) + 1))[:size]


def _write_inputs(directory: Path, size: int) -> tuple[Path, Path]:
    body = _body(4 * MIB)
    document, raw = directory / "reply.txt", directory / "body.bin"
    with open(document, "wb") as reply, open(raw, "wb") as plain:
        reply.write(b'I will write the data file now.\n<write_file path="big.py">\n')
        for _ in range(size // len(body)):
            reply.write(body)
            plain.write(body)
        reply.write(b"</write_file>\nDone.\n")
    return document, raw


def _run_measured(source: Path, command: list[str]) -> tuple[float, float]:
    """Peak RSS (MiB) and wall time (s) of ``command`` reading ``source``, output discarded."""
    result = subprocess.run(
        [sys.executable, "-c", _MAX_RSS_WRAPPER, str(source), os.devnull, *command],
        capture_output=True,
        check=True,
    )
    peak, elapsed = result.stdout.split()
    return int(peak) / 1024, float(elapsed)


def _interleaved_best(
    runs: dict[str, tuple[Path, list[str]]], repeat: int
) -> dict[str, tuple[float, float]]:
    """Best wall time and largest peak RSS of each command, runs interleaved (as
    ``paired_best``), each timed by its wrapper around the command alone."""
    best = {name: (0.0, float("inf")) for name in runs}
    for _ in range(repeat):
        for name, (source, command) in runs.items():
            peak, elapsed = _run_measured(source, command)
            best[name] = (max(best[name][0], peak), min(best[name][1], elapsed))
    return best


@case(GROUP)
def streamed_write_through_sa3p_run(quick: bool) -> Iterable[Measurement]:
    size = (16 if quick else 256) * MIB
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        document, raw = _write_inputs(directory, size)
        workspace = directory / "ws"
        workspace.mkdir()
        sa3p = [*_SA3P_RUN, str(workspace), "--json"]
        copy = directory / "cat-copy.bin"
        best = _interleaved_best(
            {
                "sa3p": (document, sa3p),
                "cat": (raw, ["sh", "-c", f"cat > {copy}"]),
                "cat+sync": (raw, ["sh", "-c", f"cat > {copy} && sync {copy}"]),
            },
            repeat=2 if quick else 5,
        )
        assert (workspace / "big.py").stat().st_size == size
    label = f"write_file {size // MIB} MiB via sa3p run"
    for baseline_name, name in [("cat > file", "cat"), ("cat > file && sync file", "cat+sync")]:
        yield measurement(
            group=GROUP,
            case=f"{label}: throughput" + ("" if name == "cat" else " (durable copy)"),
            unit="MB/s",
            subject=size / best["sa3p"][1] / 1e6,
            baseline_name=baseline_name,
            baseline=size / best[name][1] / 1e6,
            goal="ratio>=",
            target=0.5,
        )
    yield measurement(
        group=GROUP,
        case=f"{label}: peak RSS",
        unit="MiB",
        subject=best["sa3p"][0],
        baseline_name="cat > file",
        baseline=best["cat"][0],
        goal="subject<=",
        target=64,
    )


def _feed(engine: Engine, document: bytes) -> None:
    parser = InstructionParser()
    for instruction in [*parser.feed(document), *parser.finish()]:
        engine.feed(instruction)
    turn = engine.finish_turn()
    assert all(output.ok for output in turn.outputs), turn.render()


@case(GROUP)
def terminal_true(quick: bool) -> Iterable[Measurement]:
    runs = 10 if quick else 40
    with tempfile.TemporaryDirectory() as workspace:
        engine = Engine(LocalVfs(workspace), LocalTerminal(workspace))
        document = b"<terminal>true</terminal>"

        def subject() -> None:
            for _ in range(runs):
                _feed(engine, document)

        def baseline() -> None:
            for _ in range(runs):
                subprocess.run(["bash", "-c", "true"], check=True)

        try:
            seconds, base = paired_best(subject, baseline, repeat=3 if quick else 7)
        finally:
            engine.close()
    yield measurement(
        group=GROUP,
        case="<terminal>true</terminal> (parser+engine+LocalTerminal)",
        unit="ms",
        subject=seconds / runs * 1000,
        baseline_name='subprocess.run(["bash","-c","true"])',
        baseline=base / runs * 1000,
        goal="ratio<=",
        target=1.5,
    )


def _build_tree(root: Path, files: int) -> None:
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    per_directory = 100
    for index in range(files):
        directory = root / f"pkg{index // per_directory // 10}" / f"mod{index // per_directory}"
        if index % per_directory == 0:
            directory.mkdir(parents=True)
        suffix = ".log" if index % 50 == 0 else ".py"
        (directory / f"file{index}{suffix}").write_bytes(b"x\n")
    (root / "build").mkdir()
    for index in range(200):
        (root / "build" / f"out{index}.o").write_bytes(b"")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)


@case(GROUP)
def list_files_10k(quick: bool) -> Iterable[Measurement]:
    files = 1000 if quick else 10_000
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        _build_tree(root, files)
        vfs = LocalVfs(root)
        engine = Engine(vfs, LocalTerminal(root))
        git = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]

        def baseline() -> None:
            subprocess.run(git, cwd=root, check=True, stdout=subprocess.DEVNULL)

        try:
            listed, base = paired_best(
                lambda: _feed(engine, b"<list_files/>"), baseline, repeat=3 if quick else 7
            )
            walked, _ = paired_best(lambda: vfs.list_tree(""), baseline, repeat=3 if quick else 7)
        finally:
            engine.close()
        shutil.rmtree(root / ".git")
    for name, seconds in [
        ("<list_files/> (engine+LocalVfs)", listed),
        ("LocalVfs.list_tree", walked),
    ]:
        yield measurement(
            group=GROUP,
            case=f"{name}, {files} files",
            unit="ms",
            subject=seconds * 1000,
            baseline_name="git ls-files -co --exclude-standard",
            baseline=base * 1000,
            goal="ratio<=",
            target=2.0,
        )


@case(GROUP)
def many_reads_in_one_turn(quick: bool) -> Iterable[Measurement]:
    reads = 2_000 if quick else 12_000
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        workspace = directory / "ws"
        workspace.mkdir()
        (workspace / "big.txt").write_bytes(
            "".join(f"line {n}: {'x' * 40}\n" for n in range(100)).encode()
        )
        reply, empty = directory / "reads.txt", directory / "empty.txt"
        reply.write_bytes(b'<read_file path="big.txt"/>\n' * reads)
        empty.write_bytes(b"")
        command = [*_SA3P_RUN, str(workspace), "--json"]
        best = _interleaved_best(
            {"reads": (reply, command), "empty": (empty, command)}, repeat=2 if quick else 3
        )
    yield measurement(
        group=GROUP,
        case=f"peak RSS of sa3p run over one turn of {reads} read_file (5 KB file)",
        unit="MiB",
        subject=best["reads"][0],
        baseline_name="the same sa3p run on an empty reply",
        baseline=best["empty"][0],
        goal="subject<=",
        target=64,
    )
