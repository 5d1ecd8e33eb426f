"""Drivers for the end-to-end tests: the real `sa3p run` process, and the same pipeline in-process.

Both take the model's reply as a list of byte chunks, so a test states exactly where the stream
is cut (`split_at`, `random_chunks`) and the pipeline must not care.
"""

from __future__ import annotations

import json
import random
import select
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sa3p_engine import CommandOutput, Engine, Limits, TurnResult
from sa3p_host import LocalTerminal, LocalVfs
from sa3p_parser import Instruction, InstructionParser

SA3P = [sys.executable, "-m", "sa3p_host"]
ONE_RUN = ("--ephemeral", "--sandbox", "none")
"""The command language's end-to-end tests run `sa3p run` in-process, one run each (sessions
and the sandbox have their own tests in tests/sessions and tests/sandbox)."""
PROCESS_SECONDS = 60.0
"""Upper bound for one `sa3p run` process: a hang fails the test instead of blocking the suite."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CliRun:
    """What one `sa3p run` process did."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def records(self) -> list[dict[str, Any]]:
        """The JSON lines (only meaningful with ``--json``)."""
        return [json.loads(line) for line in self.stdout.decode("utf-8").splitlines() if line]

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The results and notices, without live output and the final state line."""
        return [record for record in self.records if record["type"] in ("result", "notice")]

    @property
    def live(self) -> list[dict[str, Any]]:
        """The live output lines."""
        return [record for record in self.records if record["type"] == "output"]

    @property
    def header(self) -> dict[str, Any]:
        """The state header (the last JSON line)."""
        last: dict[str, Any] = self.records[-1]
        assert last["type"] == "state", last
        return last


def run_cli(
    workspace: Path, reply: bytes | Sequence[bytes], *args: str, pause: float = 0.0
) -> CliRun:
    """Stream ``reply`` (whole, or chunk by chunk with ``pause`` between) into `sa3p run`.

    Args:
        workspace: the ``--workspace``.
        reply: the model's output, or its chunks (each written and flushed on its own).
        args: more options (``--json``, ``--timeout``).
        pause: seconds to wait after each chunk, so the reader sees the chunks separately.
    """
    chunks = [reply] if isinstance(reply, bytes) else list(reply)
    process = subprocess.Popen(
        [*SA3P, "run", "--workspace", str(workspace), *ONE_RUN, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if len(chunks) == 1:
            stdout, stderr = process.communicate(chunks[0], timeout=PROCESS_SECONDS)
        else:
            stdout, stderr = _feed_slowly(process, chunks, pause)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return CliRun(returncode=process.returncode, stdout=stdout, stderr=stderr)


def _feed_slowly(
    process: subprocess.Popen[bytes], chunks: Sequence[bytes], pause: float
) -> tuple[bytes, bytes]:
    assert process.stdin is not None
    for chunk in chunks:
        process.stdin.write(chunk)
        process.stdin.flush()
        if pause:
            time.sleep(pause)
    return process.communicate(timeout=PROCESS_SECONDS)


def start_cli(workspace: Path, *args: str) -> subprocess.Popen[bytes]:
    """``sa3p run --workspace WORKSPACE ARGS`` reading its stdin, read with ``next_record``.

    Unbuffered (``bufsize=0``): a buffered reader may hold lines that ``select`` on the pipe
    cannot see, and the next wait would miss them.
    """
    return subprocess.Popen(
        [*SA3P, "run", "--workspace", str(workspace), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )


def next_record(process: subprocess.Popen[bytes], seconds: float = PROCESS_SECONDS) -> Any:
    """The next ``--json`` line of ``process`` (from ``start_cli``) that is not live output."""
    assert process.stdout is not None
    while True:
        ready, _, _ = select.select([process.stdout], [], [], seconds)
        assert ready, f"sa3p run printed nothing in {seconds} s"
        record = json.loads(process.stdout.readline())
        if record["type"] != "output":
            return record


def run_cli_file(workspace: Path, source: Path, *args: str) -> CliRun:
    """`sa3p run SOURCE` (a file argument rather than stdin)."""
    done = subprocess.run(
        [*SA3P, "run", str(source), "--workspace", str(workspace), *ONE_RUN, *args],
        capture_output=True,
        timeout=PROCESS_SECONDS,
        check=False,
    )
    return CliRun(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)


@dataclass(frozen=True, slots=True, kw_only=True)
class InProcessRun:
    """What the in-process pipeline did: outputs as they streamed, and the finished turn."""

    streamed: list[CommandOutput]
    turn: TurnResult
    instructions: list[Instruction]
    max_buffered: int


def run_in_process(
    workspace: Path,
    chunks: Iterable[bytes | str],
    *,
    terminal_timeout: float | None = None,
    limits: Limits | None = None,
) -> InProcessRun:
    """InstructionParser → Engine → LocalVfs/LocalTerminal on ``workspace``, chunk by chunk."""
    parser = InstructionParser()
    streamed: list[CommandOutput] = []
    seen: list[Instruction] = []
    max_buffered = 0
    with Engine(
        LocalVfs(workspace),
        LocalTerminal(workspace),
        terminal_timeout=terminal_timeout,
        limits=limits,
    ) as engine:
        for chunk in chunks:
            for instruction in parser.feed(chunk):
                seen.append(instruction)
                streamed += engine.feed(instruction)
            max_buffered = max(max_buffered, parser.buffered_len)
        for instruction in parser.finish():
            seen.append(instruction)
            streamed += engine.feed(instruction)
        turn = engine.finish_turn()
    return InProcessRun(streamed=streamed, turn=turn, instructions=seen, max_buffered=max_buffered)


def split_at(data: bytes, *markers: bytes) -> list[bytes]:
    """Cut ``data`` right after each marker's first occurrence (markers in stream order)."""
    cuts: list[int] = []
    for marker in markers:
        start = cuts[-1] if cuts else 0
        index = data.index(marker, start)
        cuts.append(index + len(marker))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def random_chunks(data: bytes, seed: int, largest: int = 7) -> list[bytes]:
    """``data`` cut into random pieces of 1 to ``largest`` bytes (reproducible by ``seed``)."""
    rng = random.Random(seed)
    chunks: list[bytes] = []
    position = 0
    while position < len(data):
        size = rng.randint(1, largest)
        chunks.append(data[position : position + size])
        position += size
    return chunks


def files_in(workspace: Path) -> dict[str, bytes]:
    """Every file below ``workspace`` (relative POSIX path → content): leftovers show up too."""
    return {
        path.relative_to(workspace).as_posix(): path.read_bytes()
        for path in sorted(workspace.rglob("*"))
        if path.is_file()
    }


def rendered(outputs: Iterable[CommandOutput]) -> list[str]:
    """The text the model sees, per output."""
    return [output.render() for output in outputs]


_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(
    [sys.executable, "-m", "sa3p_host", "run", sys.argv[2], "--json", "--workspace", sys.argv[1],
     "--ephemeral", "--sandbox", "none"],
    capture_output=True, check=False,
)
sys.stdout.buffer.write(done.stdout)
sys.stderr.write(f"{done.returncode} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
"""


def run_cli_measured(workspace: Path, source: Path) -> tuple[CliRun, int]:
    """`sa3p run SOURCE --json` from a fresh wrapper process; also its peak RSS in KiB.

    The wrapper's only children are `sa3p run` and what it starts, so RUSAGE_CHILDREN's maximum
    resident size is theirs alone (the test process's other children do not count).
    """
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(workspace), str(source)],
        capture_output=True,
        timeout=PROCESS_SECONDS,
        check=True,
    )
    code, maxrss = (int(word) for word in done.stderr.decode().split()[-2:])
    return CliRun(returncode=code, stdout=done.stdout, stderr=b""), maxrss
