"""Sessions: a sandboxed workspace's guest started on demand, kept between runs.

Each figure against its baseline in the same run:

- a warm sandboxed session running ``<terminal>true</terminal>`` through an ``Engine`` on the
  session's backends, against ``subprocess.run(["bash", "-c", "true"])``;
- a cold start: from ``sa3p run`` starting, on a workspace with no session, to the first
  command's result on its standard output (the sandbox probed, bwrap and the guest started,
  connected) — an absolute goal, with plain ``sa3p run --ephemeral --sandbox none`` (no session,
  no sandbox) as the reference row's baseline;
- 256 MiB ``write_file`` through ``sa3p run`` into a sandboxed session, against
  ``cat > file && sync file``, with its floor (an empty ``sa3p run`` on the same warm session
  plus the ``cat``: what no data path can beat); and the peak RSS of ``sa3p run`` and of the
  guest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_engine import Engine
from sa3p_host._sessions import open_session, stop_session
from sa3p_parser import Instruction, InstructionParser

GROUP = "sessions"
MIB = 1 << 20
SA3P = [sys.executable, "-m", "sa3p_host"]


@contextmanager
def _private_runtime() -> Iterator[str]:
    """Sessions under a temporary runtime directory: the user's own are never touched."""
    directory = tempfile.mkdtemp(prefix="sa3p-bench-rt-", dir="/tmp")
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = directory
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR")
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous


def _instructions(document: bytes) -> list[Instruction]:
    parser = InstructionParser()
    return [*parser.feed(document), *parser.finish()]


@case(GROUP)
def warm_terminal_true(quick: bool) -> Iterable[Measurement]:
    runs = 20 if quick else 60
    instructions = _instructions(b"<terminal>true</terminal>")
    with _private_runtime(), tempfile.TemporaryDirectory() as workspace:
        with open_session(workspace) as session:
            engine = Engine(session.vfs, session.terminal)

            def in_session() -> None:
                for _ in range(runs):
                    for instruction in instructions:
                        engine.feed(instruction)

            def plain() -> None:
                for _ in range(runs):
                    subprocess.run(["bash", "-c", "true"], check=True)

            subject, baseline = paired_best(in_session, plain, repeat=3 if quick else 7)
        stop_session(workspace)
    yield measurement(
        group=GROUP,
        case="<terminal>true</terminal> in a warm sandboxed session (Engine on its backends)",
        unit="ms",
        subject=subject / runs * 1000,
        baseline_name='subprocess.run(["bash","-c","true"])',
        baseline=baseline / runs * 1000,
        goal="ratio<=",
        target=1.5,
    )


def _first_result_seconds(workspace: str, *options: str) -> float:
    """Seconds from starting ``sa3p run`` to its first result line on standard output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*SA3P, "run", "--workspace", workspace, "--json", *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"<terminal>true</terminal>")
    process.stdin.close()
    process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.wait(timeout=60)
    return elapsed


@case(GROUP)
def cold_start(quick: bool) -> Iterable[Measurement]:
    rounds = 3 if quick else 7
    cold, plain = [], []
    with _private_runtime():
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as workspace:
                cold.append(_first_result_seconds(workspace))
                stop_session(workspace)
                plain.append(_first_result_seconds(workspace, "--ephemeral", "--sandbox", "none"))
    yield measurement(
        group=GROUP,
        case="cold start of a sandboxed session: sa3p run start to first result",
        unit="s",
        subject=sorted(cold)[len(cold) // 2],
        baseline_name="sa3p run --ephemeral --sandbox none (no session, no sandbox)",
        baseline=sorted(plain)[len(plain) // 2],
        goal="subject<=",
        target=0.5,
    )


def _peak_rss_of_tree(process: psutil.Process, peaks: dict[int, int]) -> None:
    for member in [process, *process.children(recursive=True)]:
        try:
            peaks[member.pid] = max(peaks.get(member.pid, 0), member.memory_info().rss)
        except psutil.Error:
            continue


@case(GROUP)
def write_256_mib(quick: bool) -> Iterable[Measurement]:
    size = (32 if quick else 256) * MIB
    line = b"    value = compute(alpha, beta) + 42  # a typical line of code\n"
    body = (line * (size // len(line) + 1))[:size]
    with _private_runtime(), tempfile.TemporaryDirectory(dir=os.getcwd()) as top:
        workspace = Path(top, "ws")
        workspace.mkdir()
        source = Path(top, "reply.txt")
        source.write_bytes(b'<write_file path="big.bin">' + body + b"</write_file>")
        plain_source = Path(top, "body.bin")
        plain_source.write_bytes(body)
        subprocess.run(
            [*SA3P, "run", "--workspace", str(workspace)],
            input=b"",
            stdout=subprocess.DEVNULL,
            check=True,
        )
        peaks: dict[int, int] = {}

        def through_session() -> None:
            command = [*SA3P, "run", str(source), "--workspace", str(workspace)]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            watched = psutil.Process(process.pid)
            while process.poll() is None:
                _peak_rss_of_tree(watched, peaks)
                time.sleep(0.01)
            assert process.returncode == 0

        def cat_and_sync() -> None:
            target = Path(top, "copy.bin")
            subprocess.run(
                ["sh", "-c", f"cat {plain_source} > {target} && sync {target}"], check=True
            )

        def empty_run() -> None:
            subprocess.run(
                [*SA3P, "run", "--workspace", str(workspace)],
                input=b"",
                stdout=subprocess.DEVNULL,
                check=True,
            )

        subject, baseline = paired_best(through_session, cat_and_sync, repeat=2 if quick else 3)
        empty, _ = paired_best(empty_run, cat_and_sync, repeat=2 if quick else 3)
        guest = _session_guest_peak_rss(str(workspace))
        stop_session(workspace)
        interpreter = _peak_rss_of_import("sa3p_host._cli")
    yield measurement(
        group=GROUP,
        case=f"write_file {size // MIB} MiB via sa3p run into a sandboxed session",
        unit="MB/s",
        subject=size / subject / 1e6,
        baseline_name="cat > file && sync file",
        baseline=size / baseline / 1e6,
        goal="ratio>=",
        target=0.5,
    )
    yield measurement(
        group=GROUP,
        case=f"floor of that write: an empty sa3p run on the warm session (interpreter start, "
        f"imports, connect, end), then cat > file && sync file of {size // MIB} MiB",
        unit="MB/s",
        subject=size / (empty + baseline) / 1e6,
        baseline_name="cat > file && sync file",
        baseline=size / baseline / 1e6,
        goal="ratio>=",
        target=0.5,
    )
    yield measurement(
        group=GROUP,
        case="peak RSS during that write of the largest process: sa3p run and its children, "
        "or the session's guest (its VmHWM)",
        unit="MiB",
        subject=max(*peaks.values(), guest) / MIB,
        baseline_name="python -c 'import sa3p_host._cli' (the interpreter and sa3p loaded)",
        baseline=interpreter / MIB,
        goal="subject<=",
        target=64,
    )


def _peak_rss_of_import(module: str) -> int:
    """The peak RSS (VmHWM) of a fresh interpreter that imported ``module`` (not ``ru_maxrss``,
    which counts the forking parent's pages before ``exec``)."""
    script = (
        f"import {module}\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    return int(result.stdout) * 1024


def _session_guest_peak_rss(workspace: str) -> int:
    """The peak RSS (VmHWM) of the guest serving ``workspace``: its largest since it started."""
    peak = 0
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if "sa3p_host._guest" in command and os.path.realpath(workspace) in command:
            try:
                with open(f"/proc/{process.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
            except OSError:
                continue
    return peak
