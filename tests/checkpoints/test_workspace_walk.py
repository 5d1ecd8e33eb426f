"""The checkpoint walk on a hostile workspace: git metadata that is a FIFO, a link to
``/dev/zero`` or huge never hangs or floods it; a directory swapped mid-walk (for a symlink out
of the workspace, or for another directory) is never entered; nested repositories are left out
as git leaves them out."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sa3p_engine import NodeKind
from sa3p_host import ChangeKind, Checkpoints, LocalVfs
from sa3p_host._local import _linux_calls
from sa3p_host._workspace_tree import StatKey, Walker, open_workspace

from ..host.host_helpers import finishes_within
from ..host.test_special_files import HOSTILE, _make_hostile

QUICK = 2.0  # seconds two checkpoints of a handful of files may take, hostile metadata or not


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``openat2`` where the kernel has it, and with the ``O_NOFOLLOW`` component walk."""
    _linux_calls.disable_openat2(request.param == "walk")
    try:
        yield
    finally:
        _linux_calls.disable_openat2(False)


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_git_metadata_neither_hangs_nor_floods_a_checkpoint(
    store: Checkpoints, workspace: Path, case: str
) -> None:
    (workspace / "src").mkdir()
    (workspace / "src" / "ok.txt").write_text("fine\n")
    _git(workspace, "init", "-q")
    _git(workspace, "add", "src/ok.txt")
    (workspace / ".git" / "info").mkdir(exist_ok=True)
    _make_hostile(workspace, case)

    def two_turns() -> list[dict[str, ChangeKind]]:
        changes = []
        for name in ("a.txt", "src/b.txt"):
            store.begin_turn()
            (workspace / name).write_text("new\n")
            record = store.end_turn([f"write {name}"])
            assert record is not None
            changes.append({change.path: change.kind for change in record.changes})
        return changes

    started = time.monotonic()
    outcome = finishes_within(10 * QUICK, two_turns)
    assert time.monotonic() - started < QUICK, case
    assert outcome == [{"a.txt": ChangeKind.CREATED}, {"src/b.txt": ChangeKind.CREATED}]


def _walk(root: Path, meanwhile: Callable[[], None]) -> tuple[dict[str, StatKey], list[str]]:
    """A whole walk of ``root``: the files found, and those it would copy, each followed by
    ``meanwhile()`` (another process acting on the workspace)."""
    read: list[str] = []

    def record(dir_fd: int, name: str, relative: str, info: os.stat_result) -> None:
        read.append(relative)
        meanwhile()

    found = Walker(open_workspace(str(root))).walk({}, record, watch=None)
    return found, read


@pytest.mark.usefixtures("resolver")
def test_a_directory_swapped_for_a_link_out_mid_walk_is_never_entered(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    (root / "d" / "mine").write_text("mine\n")
    (root / "top").write_text("top\n")
    outside.mkdir()
    (outside / "secret").write_text("secret\n")

    def swap() -> None:  # the root is listed; its subdirectories are not opened yet
        if not (root / "d").is_symlink():
            (root / "d").rename(root / "d-away")
            (root / "d").symlink_to(outside)

    found, read = _walk(root, swap)
    assert set(found) == set(read) == {"top"}


@pytest.mark.usefixtures("resolver")
def test_a_directory_replaced_mid_walk_by_another_is_never_entered(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    (root / "d").mkdir(parents=True)
    (root / "top").write_text("top\n")
    elsewhere.mkdir()
    (elsewhere / "secret").write_text("secret\n")

    def swap() -> None:  # a real directory, not a link, but not the one the root listed
        if elsewhere.exists():
            (root / "d").rename(root / "d-away")
            elsewhere.rename(root / "d")

    found, read = _walk(root, swap)
    assert set(found) == set(read) == {"top"}


def test_nested_repositories_are_left_out_as_git_leaves_them(
    store: Checkpoints, workspace: Path
) -> None:
    (workspace / "sub").mkdir()
    _git(workspace / "sub", "init", "-q")
    (workspace / "sub" / "inner.txt").write_text("inner\n")
    (workspace / "top.txt").write_text("top\n")
    store.begin_turn()
    (workspace / "sub" / "more.txt").write_text("more\n")
    (workspace / "new.txt").write_text("new\n")
    record = store.end_turn(["edit"])
    assert record is not None and [change.path for change in record.changes] == ["new.txt"]
    store.undo()
    assert sorted(os.listdir(workspace / "sub")) == [".git", "inner.txt", "more.txt"]


def test_the_walk_keeps_exactly_the_files_a_listing_lists(workspace: Path) -> None:
    script = (
        "git init -q && printf '*.log\\nbuild/\\n!keep.log\\n/top-only\\n' > .gitignore "
        "&& mkdir -p build src/deep vendor/sub sub-repo && echo o > build/out.o "
        "&& echo f > build/forced.o && git add -f build/forced.o && echo l > a.log "
        "&& echo k > src/keep.log && echo t > top-only && echo t > src/top-only "
        "&& printf '*.tmp\\n' > src/.gitignore && echo x > src/deep/x.tmp && echo y > src/y.py "
        "&& ln -s src/y.py link && ln -s /dev/zero zero && mkfifo src/pipe "
        "&& git -C sub-repo init -q && echo r > sub-repo/r && echo v > vendor/sub/v.py"
    )
    subprocess.run(["bash", "-c", script], cwd=workspace, check=True, timeout=60)
    listed = {
        node.path
        for node in LocalVfs(workspace).list_tree("")
        if node.kind is NodeKind.FILE and node.path != "sub-repo"
    }
    found = Walker(open_workspace(str(workspace))).walk({}, lambda *_: None, watch=None)
    assert set(found) == listed
    assert {"build/forced.o", "src/keep.log", "src/top-only", "link", "zero"} <= listed
