"""Benchmarks of checkpoints: the cost of one turn's checkpoint against ``git status``.

A 10,000-file workspace (the ``host`` group's tree: 100 files a directory, a ``.gitignore``
leaving out 2% of them and a ``build/`` directory), made a git repository with every file
committed, and checkpointed once (its first, full checkpoint: untimed). Then each turn is
``begin_turn()``, three files changed (untimed), ``end_turn()``; its cost is the two calls'
time. The baseline, in the same run and interleaved with the turns: ``git status --porcelain``
on the same tree with the same three files changed (a process, as an agent runs it).

Two rows: one ``Checkpoints`` object across turns (a library user's agent loop: its watches
name what changed, nothing is walked again), and a new object for every turn (what each
``sa3p run`` process pays: the saved tree read back, git's facts, one stat walk of the whole
tree, then the watched end), and a floor row: the one stat walk alone, done the cheapest way
Python has (``os.scandir`` and one ``lstat`` per entry, keeping each file's signature), which a
new process cannot skip since anything may have changed the tree between two runs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks._harness import Measurement, case, measurement, timed
from sa3p_host import Checkpoints

GROUP = "checkpoints"


def _build_repository(root: Path, files: int) -> list[Path]:
    """The tree, committed; the three files each turn changes."""
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    for index in range(files):
        directory = root / f"pkg{index // 1000}" / f"mod{index // 100}"
        if index % 100 == 0:
            directory.mkdir(parents=True)
        suffix = ".log" if index % 50 == 0 else ".py"
        (directory / f"file{index}{suffix}").write_bytes(b"x = %d\n" % index * 8)
    (root / "build").mkdir()
    for index in range(200):
        (root / "build" / f"out{index}.o").write_bytes(b"")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b", "-C", str(root)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "tree"], check=True)
    step = files // 3
    return [
        root / f"pkg{i // 1000}" / f"mod{i // 100}" / f"file{i}.py"
        for i in (1, step + 1, 2 * step + 1)
    ]


def _change(paths: list[Path], turn: int) -> None:
    for path in paths:
        with open(path, "a") as handle:
            handle.write(f"# turn {turn}\n")


def _turn_seconds(store: Checkpoints, paths: list[Path], turn: int) -> float:
    begin = timed(store.begin_turn)
    _change(paths, turn)
    end = timed(lambda: store.end_turn([f"terminal edit {turn}"]))
    return begin + end


def _stat_walk(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file's (mtime, size, inode) below ``root`` except ``.git``, by scandir + lstat."""
    signatures, directories = {}, [str(root)]
    while directories:
        with os.scandir(directories.pop()) as entries:
            for entry in entries:
                if entry.name == ".git":
                    continue
                if entry.is_dir(follow_symlinks=False):
                    directories.append(entry.path)
                else:
                    status = entry.stat(follow_symlinks=False)
                    signatures[entry.path] = (status.st_mtime_ns, status.st_size, status.st_ino)
    return signatures


def _paired(
    subject: Callable[[int], float], root: Path, repeat: int, first: int
) -> tuple[float, float]:
    """Best turn cost and best ``git status`` time, interleaved."""
    status = ["git", "-C", str(root), "status", "--porcelain"]
    best_subject = best_baseline = float("inf")
    for turn in range(first, first + repeat):
        best_subject = min(best_subject, subject(turn))
        best_baseline = min(
            best_baseline,
            timed(lambda: subprocess.run(status, check=True, stdout=subprocess.DEVNULL)),
        )
    return best_subject, best_baseline


@case(GROUP)
def checkpoint_turn_10k(quick: bool) -> Iterable[Measurement]:
    files, repeat = (1000, 5) if quick else (10_000, 9)
    with tempfile.TemporaryDirectory() as temporary:
        root, state = Path(temporary, "ws"), Path(temporary, "state")
        root.mkdir()
        paths = _build_repository(root, files)
        previous = os.environ.get("XDG_STATE_HOME")
        os.environ["XDG_STATE_HOME"] = str(state)  # never the user's own store
        try:
            with Checkpoints(root) as store:
                store.begin_turn()  # the first, full checkpoint
                store.end_turn()
                _turn_seconds(store, paths, 0)  # warm up
                kept, git_kept = _paired(lambda n: _turn_seconds(store, paths, n), root, repeat, 1)

            def fresh(turn: int) -> float:
                with Checkpoints(root) as each:
                    return _turn_seconds(each, paths, turn)

            fresh(100)  # warm up (the previous turn's files are read again: they are racy)
            new, git_new = _paired(fresh, root, repeat, 101)
            walk, git_walk = _paired(lambda _: timed(lambda: _stat_walk(root)), root, repeat, 0)
        finally:
            if previous is None:
                os.environ.pop("XDG_STATE_HOME", None)
            else:
                os.environ["XDG_STATE_HOME"] = previous
    for name, seconds, baseline in (
        ("one Checkpoints object across turns (watched)", kept, git_kept),
        ("a new Checkpoints object each turn (each `sa3p run`)", new, git_new),
        ("floor: one scandir + lstat walk of the tree in Python, nothing else", walk, git_walk),
    ):
        yield measurement(
            group=GROUP,
            case=f"checkpoint of a turn (begin + end), {files} files, 3 changed: {name}",
            unit="ms",
            subject=seconds * 1000,
            baseline_name="git status --porcelain, same tree, same 3 changes",
            baseline=baseline * 1000,
            goal="ratio<=",
            target=2.0,
        )
