"""Writes leave nothing behind, whatever kills them; every legal name can be written; a name
ending in ``/`` is refused; writers making the same parent folders at once never fail."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sa3p_engine import ErrorCode, FileSystemError
from sa3p_host import LocalVfs

from .host_helpers import tree

ROUNDS = 24

_WRITER = """
import os, sys
from sa3p_host import LocalVfs
from sa3p_host._local import _write_staging
if sys.argv[2] == "named":
    _write_staging._O_TMPFILE = None
vfs = LocalVfs(sys.argv[1])
step = 0
while True:
    kind = step % 4
    if kind == 3:
        writer = vfs.open_writer("big.bin")
        for _ in range(24):
            writer.write(b"b" * 131072)  # 3 MiB: through the worker threads
    else:
        writer = vfs.open_writer(f"f{step % 5}.txt" if kind else f"new/f{step}.txt")
        writer.write(b"step %d" % step)
    writer.commit()
    print(step, flush=True)
    step += 1
"""

_OURS = re.compile(r"\A(f\d\.txt|big\.bin|new/|new/f\d+\.txt)\Z")


@pytest.mark.parametrize("kind", ["unnamed", "named"])
def test_kill_9_during_writes_leaves_nothing_after_the_next_start(
    tmp_path: Path, kind: str
) -> None:
    (tmp_path / "mine.txt").write_bytes(b"the user's")
    for round_number in range(ROUNDS):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        wanted = round_number % 7  # commits to let through before the kill: varied phases
        for _ in range(wanted):
            assert child.stdout.readline(), child.stderr.read() if child.stderr else ""
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()
    LocalVfs(tmp_path)  # the next start
    left = tree(str(tmp_path))
    assert {path for path in left if not _OURS.match(path)} == {"mine.txt"}
    assert (tmp_path / "mine.txt").read_bytes() == b"the user's"
    for path in left:
        if path.endswith(".txt") and path != "mine.txt":
            assert (tmp_path / path).read_bytes().startswith(b"step ")


def test_a_live_writers_staged_file_survives_another_start(tmp_path: Path) -> None:
    # Named staging (the fallback): the sweep at a start must spare a write still running.
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path), "named"],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        for _ in range(40):  # 10 big writes and 30 small ones, each sweeping at our starts
            assert child.stdout.readline()
            LocalVfs(tmp_path)
        assert child.poll() is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    LocalVfs(tmp_path)
    assert not (tmp_path / ".sa3p-writes").exists()


@pytest.mark.usefixtures("resolver", "staging_kind")
@pytest.mark.parametrize(
    "name",
    ["a" * 255, "é" * 127 + "x", "dir/" + "b" * 255, "." + "c" * 254],
    ids=["255 ascii", "255 bytes of UTF-8", "255 in a new folder", "255 hidden"],
)
def test_names_of_255_bytes_are_written_and_replaced(tmp_path: Path, name: str) -> None:
    assert len(name.rpartition("/")[2].encode()) == 255
    vfs = LocalVfs(tmp_path)
    for content in (b"first", b"second"):
        writer = vfs.open_writer(name)
        writer.write(content)
        receipt = writer.commit()
        assert receipt.created is (content == b"first")
        assert (tmp_path / name).read_bytes() == content
    assert vfs.read(name) == b"second"
    assert set(os.listdir(tmp_path)) == {name.split("/", 1)[0]}


def test_a_name_of_256_bytes_is_an_invalid_path(tmp_path: Path) -> None:
    with pytest.raises(FileSystemError) as caught:
        LocalVfs(tmp_path).open_writer("a" * 256).commit()
    assert caught.value.code is ErrorCode.INVALID_PATH
    assert os.listdir(tmp_path) == []


@pytest.mark.usefixtures("resolver")
@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("newdir/", ErrorCode.INVALID_PATH),
        ("a/newdir/", ErrorCode.INVALID_PATH),
        ("newdir/.", ErrorCode.IS_A_DIRECTORY),
        ("a/newdir/..", ErrorCode.IS_A_DIRECTORY),
        (".", ErrorCode.IS_A_DIRECTORY),
    ],
)
def test_a_path_naming_a_directory_is_never_written_as_a_file(
    tmp_path: Path, path: str, code: ErrorCode
) -> None:
    vfs = LocalVfs(tmp_path)
    with pytest.raises(FileSystemError) as caught:
        writer = vfs.open_writer(path)
        writer.write(b"x")
        writer.commit()
    assert caught.value.code is code
    assert os.listdir(tmp_path) == []
    if code is ErrorCode.INVALID_PATH:
        assert "ends with '/'" in caught.value.message


@pytest.mark.usefixtures("staging_kind")
def test_writers_making_the_same_parents_at_once_never_fail(tmp_path: Path) -> None:
    vfs = LocalVfs(tmp_path)
    threads = 8
    failures: list[BaseException] = []
    for round_number in range(200):
        barrier = threading.Barrier(threads)

        def write(
            index: int, round_number: int = round_number, barrier: threading.Barrier = barrier
        ) -> None:
            try:
                barrier.wait(timeout=30)
                writer = vfs.open_writer(f"r{round_number}/shared/deep/{index}.txt")
                writer.write(b"%d" % index)
                writer.commit()
            except BaseException as error:  # reported below
                failures.append(error)

        workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert failures == [], f"round {round_number}: {failures!r}"
        names = sorted(os.listdir(tmp_path / f"r{round_number}" / "shared" / "deep"))
        assert names == [f"{n}.txt" for n in range(threads)]
    assert not (tmp_path / ".sa3p-writes").exists()


@pytest.mark.usefixtures("staging_kind")
def test_a_live_write_survives_a_sweep_in_the_same_process(tmp_path: Path) -> None:
    vfs = LocalVfs(tmp_path)
    (tmp_path / "kept.txt").write_bytes(b"old")
    writer = vfs.open_writer("kept.txt")
    writer.write(b"new")
    LocalVfs(tmp_path, stale_temporary_age=-1)  # sweeps: our live write must survive it
    writer.commit()
    assert (tmp_path / "kept.txt").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["kept.txt"]
