"""Engine benchmarks: the fuzzy edit tier on large files, apply_patch against GNU patch, and the
engine's per-command overhead.

- ``fuzzy_edit_10k_lines``: an ``apply_edit`` whose search has typos (so only the fuzzy tier
  finds it) in a 10,000-line file, through the whole engine (read, hash, match, write) on a
  ``MemoryFileSystem``. Goal: <= 50 ms. Baseline: the same edit without the typos (exact tier).
- ``fuzzy_edit_400_line_search``: the same with a 400-line search (typos every few lines) in a
  5,000-line file. Goal: <= 250 ms. Baseline: the same edit, exact tier.
- ``apply_patch_20_files``: a V4A patch updating 20 files of 200 lines (3 chunks each, 3 lines of
  context) through the engine, against GNU ``patch -p1`` applying the same hunks as a unified
  diff (``patch`` started as a process, as an agent would). Two rows: the engine on a
  ``MemoryFileSystem`` (no disk), and the engine on a plain directory (read, write a temporary
  file, rename: what ``patch`` does, no fsync on either side). Goal: ratio <= 3. Only the apply is
  timed; restoring the files between runs is not.
- ``read_file_overhead``: one ``read_file`` of a 400-line file through the engine (attributes,
  state machine, output value) against doing the same work by hand on the same filesystem (read,
  SHA-256, line numbering). Goal: ratio <= 2.
- ``policy_overhead``: ``<terminal>true</terminal>`` through parser + engine + ``LocalVfs`` /
  ``LocalTerminal`` in a temporary directory, with a 50-rule policy (path rules on write, read
  and list; prefix and pattern rules on terminal and signal; none matches, so every terminal
  rule is tried) against the same engine without a policy. Goal: ratio <= 1.05.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from benchmarks._harness import Measurement, case, measurement, paired_best, timed
from sa3p_engine import (
    ApplyEditOutput,
    ApplyPatchOutput,
    EditTier,
    Engine,
    ErrorCode,
    FileStat,
    FileSystemError,
    Limits,
    NodeKind,
    Policy,
    ReadFileOutput,
    WriteReceipt,
)
from sa3p_engine.testing import MemoryFileSystem, ScriptedTerminal
from sa3p_parser import EndTag, Instruction, InstructionParser, RawChunk, StartTag, Text

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


def _milliseconds(
    name: str,
    seconds: tuple[float, float],
    baseline_name: str,
    *,
    goal: Literal["ratio<=", "subject<="],
    target: float,
) -> Measurement:
    """A row of this group from (subject, baseline) seconds."""
    subject, baseline = seconds
    return measurement(
        group=GROUP,
        case=name,
        unit="ms",
        subject=subject * 1000,
        baseline_name=baseline_name,
        baseline=baseline * 1000,
        goal=goal,
        target=target,
    )


def _fuzzy_row(
    *, lines: list[str], first: int, size: int, typo: Callable[[int, str], str], repeat: int
) -> tuple[float, float]:
    """(fuzzy, exact) best seconds of an edit of ``lines[first:first + size]`` in ``lines``,
    with ``typo(n, line)`` applied to each searched line for the fuzzy one."""
    data = "".join(lines).encode()
    region = lines[first : first + size]
    exact_edit = _edit("".join(region), "    pass\n")
    fuzzy_edit = _edit("".join(typo(n, line) for n, line in enumerate(region)), "    pass\n")
    return paired_best(
        lambda: _run_edit(data, fuzzy_edit, EditTier.FUZZY),
        lambda: _run_edit(data, exact_edit, EditTier.EXACT),
        repeat=repeat,
    )


def _typo_8_lines(n: int, line: str) -> str:
    """Two ``compte(`` and one ``kye=`` in the first lines, as the row always had."""
    line = line.replace("compute(", "compte(") if n < 2 else line
    return line.replace("key=", "kye=") if n == 0 else line


@case(GROUP)
def fuzzy_edit_10k_lines(quick: bool) -> Iterable[Measurement]:
    seconds = _fuzzy_row(
        lines=_source(10_000), first=6000, size=8, typo=_typo_8_lines, repeat=3 if quick else 10
    )
    yield _milliseconds(
        "apply_edit fuzzy tier, 10,000-line file (640 KB), 8-line search",
        seconds,
        "same edit, exact tier",
        goal="subject<=",
        target=50,
    )


@case(GROUP)
def fuzzy_edit_400_line_search(quick: bool) -> Iterable[Measurement]:
    seconds = _fuzzy_row(
        lines=_source(5_000),
        first=2000,
        size=400,
        typo=lambda n, line: line.replace("compute(", "compte(") if n % 7 == 0 else line,
        repeat=3 if quick else 7,
    )
    yield _milliseconds(
        "apply_edit fuzzy tier, 5,000-line file, 400-line search",
        seconds,
        "same edit, exact tier",
        goal="subject<=",
        target=250,
    )


_PATCH_FILES = 20
_PATCH_LINES = 200
_CHUNK_AT = (30, 100, 170)


def _patch_inputs() -> tuple[dict[str, bytes], str, bytes]:
    """The files, a V4A patch of 3 chunks per file, and the same hunks as a unified diff."""
    files: dict[str, bytes] = {}
    v4a = ["*** Begin Patch"]
    unified: list[str] = []
    for index in range(_PATCH_FILES):
        old = _source(_PATCH_LINES + index)[index:]
        new = list(old)
        v4a.append(f"*** Update File: src/module_{index}.py")
        for at in _CHUNK_AT:
            new[at] = old[at].replace("compute(", "evaluate(")
            v4a.append("@@")
            v4a += [f" {line.rstrip()}" for line in old[at - 3 : at]]
            v4a += [f"-{old[at].rstrip()}", f"+{new[at].rstrip()}"]
            v4a += [f" {line.rstrip()}" for line in old[at + 1 : at + 4]]
        path = f"src/module_{index}.py"
        files[path] = "".join(old).encode()
        unified += difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", n=3)
    v4a.append("*** End Patch\n")
    return files, "\n".join(v4a), "".join(unified).encode()


class _PlainDirectory:
    """A workspace on disk with what ``patch`` does: read, write a temporary file, rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def stat(self, path: str) -> FileStat:
        try:
            info = (self.root / path).stat()
        except FileNotFoundError:
            raise FileSystemError(ErrorCode.NOT_FOUND, f"{path} does not exist") from None
        return FileStat(path=path, kind=NodeKind.FILE, size=info.st_size, mtime=info.st_mtime)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        with open(self.root / path, "rb") as handle:
            handle.seek(offset)
            return handle.read(-1 if length is None else length)

    def open_writer(self, path: str) -> _PlainWriter:
        return _PlainWriter(self.root / path, path)

    def remove(self, path: str) -> None:
        os.unlink(self.root / path)


class _PlainWriter:
    def __init__(self, target: Path, path: str) -> None:
        self.target, self.path, self.chunks = target, path, [b""]

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def commit(self) -> WriteReceipt:
        data = b"".join(self.chunks)
        temporary = self.target.with_name(f".{self.target.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, self.target)
        digest = hashlib.sha256(data).hexdigest()
        return WriteReceipt(path=self.path, bytes_written=len(data), sha256=digest, created=False)

    def abort(self) -> None:
        self.chunks.clear()


def _restore(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (root / path).write_bytes(data)


def _best(setup: Callable[[], object], run: Callable[[], object], repeat: int) -> float:
    """Best time of ``run``, ``setup`` (untimed) before each."""
    best = float("inf")
    for _ in range(repeat):
        setup()
        best = min(best, timed(run))
    return best


@case(GROUP)
def apply_patch_20_files(quick: bool) -> Iterable[Measurement]:
    if shutil.which("patch") is None:
        raise RuntimeError("GNU patch is needed for this case (apt-get install patch)")
    files, v4a, unified = _patch_inputs()
    instructions: list[Instruction] = [
        StartTag("apply_patch"),
        RawChunk("apply_patch", v4a.encode()),
        EndTag("apply_patch"),
    ]
    repeat = 5 if quick else 15
    with tempfile.TemporaryDirectory() as patch_dir, tempfile.TemporaryDirectory() as plain_dir:
        patch_root, plain_root = Path(patch_dir), Path(plain_dir)
        for root in (patch_root, plain_root):
            (root / "src").mkdir()
            _restore(root, files)

        def gnu_patch() -> None:
            subprocess.run(["patch", "-p1", "-s", "-d", patch_dir], input=unified, check=True)

        def engine_on(vfs: object) -> None:
            engine = Engine(vfs, ScriptedTerminal())  # type: ignore[arg-type]
            outputs = [output for item in instructions for output in engine.feed(item)]
            assert isinstance(outputs[-1], ApplyPatchOutput), outputs[-1].render()

        in_memory: list[MemoryFileSystem] = []
        baseline = subjects_memory = subjects_plain = float("inf")
        for _ in range(repeat):  # interleaved, so drift hits all three alike
            baseline = min(baseline, _best(lambda: _restore(patch_root, files), gnu_patch, 1))
            subjects_memory = min(
                subjects_memory,
                _best(
                    lambda: in_memory.insert(0, MemoryFileSystem(files)),
                    lambda: engine_on(in_memory[0]),
                    1,
                ),
            )
            subjects_plain = min(
                subjects_plain,
                _best(
                    lambda: _restore(plain_root, files),
                    lambda: engine_on(_PlainDirectory(plain_root)),
                    1,
                ),
            )
        assert (patch_root / "src/module_0.py").read_bytes() == (
            plain_root / "src/module_0.py"
        ).read_bytes()
    for where, seconds in (
        ("MemoryFileSystem", subjects_memory),
        ("plain directory", subjects_plain),
    ):
        yield _milliseconds(
            f"apply_patch, 20 files x 3 chunks (engine on a {where})",
            (seconds, baseline),
            "GNU patch -p1, same hunks as a unified diff",
            goal="ratio<=",
            target=3,
        )


@case(GROUP)
def read_file_overhead(quick: bool) -> Iterable[Measurement]:
    data = "".join(_source(400)).encode()
    vfs = MemoryFileSystem({"f.py": data})
    # One turn of many reads: a budget that never runs out, so that each read is served whole.
    engine = Engine(vfs, ScriptedTerminal(), limits=Limits(turn_output_bytes=1 << 40))
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


def _fifty_rules() -> Policy:
    """A policy of 50 rules of every kind, none of which matches ``true``."""
    rules = ['default = "allow"']
    for index in range(20):
        action = ("deny", "ask", "allow")[index % 3]
        rules.append(f'[[rule]]\naction = "{action}"\ncommand = "write"\npath = "dir{index}/**"')
    for index in range(10):
        rules.append(f'[[rule]]\naction = "deny"\ncommand = "read"\npath = "secret{index}/*"')
    for index in range(5):
        rules.append(f'[[rule]]\naction = "deny"\ncommand = "list"\npath = "hidden{index}/"')
    for index in range(6):
        rules.append(f'[[rule]]\naction = "ask"\ncommand = "terminal"\nprefix = "git push {index}"')
    for index in range(6):
        pattern = f"rm\\\\s+-rf\\\\s+/{index}"
        rules.append(f'[[rule]]\naction = "deny"\ncommand = "terminal"\npattern = "{pattern}"')
    for signal in ("SIGKILL", "SIGQUIT", "SIGHUP"):
        rules.append(f'[[rule]]\naction = "deny"\ncommand = "signal"\nprefix = "{signal}"')
    policy = Policy.from_toml("\n".join(rules))
    assert len(policy.rules) == 50
    return policy


@case(GROUP)
def policy_overhead(quick: bool) -> Iterable[Measurement]:
    from sa3p_host import LocalTerminal, LocalVfs

    runs = 10 if quick else 40
    document = b"<terminal>true</terminal>"

    def feeding(engine: Engine) -> Callable[[], None]:
        def run() -> None:
            for _ in range(runs):
                parser = InstructionParser()
                for instruction in [*parser.feed(document), *parser.finish()]:
                    engine.feed(instruction)
                turn = engine.finish_turn()
                assert turn.outputs[0].ok, turn.render()

        return run

    with tempfile.TemporaryDirectory() as workspace:
        # The same backends under both engines: the policy is the only difference.
        vfs, terminal = LocalVfs(workspace), LocalTerminal(workspace)
        ruled = Engine(vfs, terminal, policy=_fifty_rules())
        plain = Engine(vfs, terminal)
        try:
            seconds, base = paired_best(feeding(ruled), feeding(plain), repeat=3 if quick else 15)
        finally:
            terminal.close()
    yield measurement(
        group=GROUP,
        case="<terminal>true</terminal> with a 50-rule policy (engine+LocalVfs+LocalTerminal)",
        unit="ms",
        subject=seconds / runs * 1000,
        baseline_name="the same engine without a policy",
        baseline=base / runs * 1000,
        goal="ratio<=",
        target=1.05,
    )
