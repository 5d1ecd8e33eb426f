"""The directory-swap race, tried as an attacker would: another process swaps a directory of
the workspace with a symlink to an outside directory (``renameat2(RENAME_EXCHANGE)``, so the
name always exists) as fast as it can, while LocalVfs reads, stats, lists and writes through
it. Bounded: 2,000 attempts per operation, with each resolver. No escape is allowed."""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sa3p_engine import FileSystemError, NodeKind
from sa3p_host import LocalVfs

from ..waiting import wait_until

ATTEMPTS = 2000
INSIDE = b"inside"
SECRET = b"SECRET, outside the workspace"

_FLIPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
stop = sys.argv[2]
count = 0
while count % 64 or not os.path.exists(stop):
    if libc.renameat2(-100, b"d", -100, b"l", 2) != 0:  # RENAME_EXCHANGE
        raise SystemExit(f"renameat2 failed: errno {ctypes.get_errno()}")
    count += 1
    if count == 1:
        open("flipping", "w").close()
print(count)
"""


_INSIDE_FD: dict[Path, int] = {}


def _has_rename_exchange() -> bool:
    return hasattr(ctypes.CDLL(None), "renameat2")


@pytest.fixture
def swapped(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A workspace whose ``d`` flips between a directory and a symlink to ``../outside``
    (that directory is ``ws/inside.fd``'s: a descriptor the test can use whatever its name)."""
    if not _has_rename_exchange():
        pytest.skip("this C library has no renameat2")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_bytes(SECRET)
    (outside / "only_outside.txt").write_bytes(SECRET)
    root = tmp_path / "ws"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.txt").write_bytes(INSIDE)
    (root / "l").symlink_to("../outside")
    stop = tmp_path / "stop"
    _INSIDE_FD[root] = os.open(root / "d", os.O_RDONLY | os.O_DIRECTORY)
    flipper = subprocess.Popen(
        [sys.executable, "-c", _FLIPPER, str(root), str(stop)], stdout=subprocess.PIPE
    )
    try:
        wait_until((root / "flipping").exists, 30, "the flipper started")
        yield root, outside
    finally:
        os.close(_INSIDE_FD.pop(root))
        stop.touch()
        output, _ = flipper.communicate(timeout=30)
        assert flipper.returncode == 0, output
        assert int(output) > 100  # the race really ran


def _attempts(action: Callable[[], object], escaped: Callable[[object], bool]) -> int:
    """How many of ``ATTEMPTS`` calls of ``action`` escaped (errors are fine: refusals)."""
    escapes = 0
    for _ in range(ATTEMPTS):
        try:
            result = action()
        except FileSystemError:
            continue
        escapes += escaped(result)
    return escapes


@pytest.mark.usefixtures("resolver")
def test_reads_and_hashes_never_escape(swapped: tuple[Path, Path]) -> None:
    root, _ = swapped
    vfs = LocalVfs(root)
    assert _attempts(lambda: vfs.read("d/f.txt"), lambda data: data == SECRET) == 0
    secret_hash = hashlib.sha256(SECRET).hexdigest()
    assert _attempts(lambda: vfs.hash("d/f.txt"), lambda digest: digest == secret_hash) == 0


@pytest.mark.usefixtures("resolver")
def test_stats_never_escape(swapped: tuple[Path, Path]) -> None:
    root, _ = swapped
    vfs = LocalVfs(root)

    def escaped(info: object) -> bool:
        return getattr(info, "size", None) == len(SECRET)

    assert _attempts(lambda: vfs.stat("d/f.txt"), escaped) == 0
    assert _attempts(lambda: vfs.stat("d/only_outside.txt"), lambda _: True) == 0


@pytest.mark.usefixtures("resolver")
def test_listings_never_escape(swapped: tuple[Path, Path]) -> None:
    root, _ = swapped
    vfs = LocalVfs(root)

    def escaped(nodes: object) -> bool:
        assert isinstance(nodes, list)
        return any("only_outside" in node.path for node in nodes)

    assert _attempts(lambda: vfs.list_tree("d"), escaped) == 0
    assert _attempts(lambda: vfs.list_tree(""), escaped) == 0
    kinds = {node.path: node.kind for node in vfs.list_tree("")}
    assert kinds.get("l", kinds.get("d")) in (NodeKind.FILE, NodeKind.DIRECTORY)


@pytest.mark.usefixtures("resolver", "staging_kind")
def test_committed_writes_never_land_outside(swapped: tuple[Path, Path]) -> None:
    root, outside = swapped
    vfs = LocalVfs(root)
    committed = 0

    def write() -> object:
        writer = vfs.open_writer("d/new.txt")
        writer.write(b"x")
        return writer.commit()

    for _ in range(ATTEMPTS):
        try:
            write()
        except FileSystemError:
            continue
        committed += 1
    assert sorted(path.name for path in outside.iterdir()) == ["f.txt", "only_outside.txt"]
    assert (outside / "f.txt").read_bytes() == SECRET
    assert committed > 0  # the race let some through, inside


@pytest.mark.usefixtures("resolver")
def test_removals_never_reach_outside(swapped: tuple[Path, Path]) -> None:
    root, outside = swapped
    vfs = LocalVfs(root)
    inside = _INSIDE_FD[root]
    removed = 0
    for _ in range(ATTEMPTS):
        try:
            vfs.remove("d/f.txt")
            removed += 1
        except FileSystemError:
            pass
        os.close(os.open("f.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=inside))
        assert (outside / "f.txt").read_bytes() == SECRET
    assert removed > 0
