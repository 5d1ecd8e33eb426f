"""LocalVfs.remove: one file (or a symlink itself) beneath the root, removed atomically."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sa3p_engine import ErrorCode, FileHash, FileSystemError
from sa3p_host import LocalVfs

pytestmark = pytest.mark.usefixtures("resolver")


def test_a_file_is_removed(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    vfs = LocalVfs(root)
    vfs.remove("top.txt")
    assert not (root / "top.txt").exists()
    with pytest.raises(FileSystemError) as caught:
        vfs.read("top.txt")
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_a_symlink_is_removed_not_its_target(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    vfs = LocalVfs(root)
    for link in ("link_file", "link_out", "dangling", "link_in"):
        vfs.remove(link)
        assert not os.path.lexists(root / link)
    assert (root / "top.txt").read_text() == "top"
    assert (root / "a" / "b" / "inner.txt").read_text() == "inner"
    assert (outside / "secret.txt").read_text() == "secret"


def test_links_inside_are_followed_on_the_way(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    LocalVfs(root).remove("link_in/inner.txt")
    assert not (root / "a" / "b" / "inner.txt").exists()
    assert (root / "a" / "b").is_dir()


def test_absolute_paths_inside_the_root_work(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    LocalVfs(root).remove(str(root / "a" / "b" / "inner.txt"))
    assert not (root / "a" / "b" / "inner.txt").exists()


REFUSALS = {
    "missing.txt": ErrorCode.NOT_FOUND,
    "nowhere/x.txt": ErrorCode.NOT_FOUND,
    "a": ErrorCode.IS_A_DIRECTORY,
    "a/b/..": ErrorCode.IS_A_DIRECTORY,
    "a/.": ErrorCode.IS_A_DIRECTORY,
    ".": ErrorCode.IS_A_DIRECTORY,
    "": ErrorCode.IS_A_DIRECTORY,
    "top.txt/": ErrorCode.INVALID_PATH,
    "a/": ErrorCode.INVALID_PATH,
    "top.txt/x": ErrorCode.NOT_A_DIRECTORY,
    "top\0.txt": ErrorCode.INVALID_PATH,
    "../outside/secret.txt": ErrorCode.OUTSIDE_WORKSPACE,
    "link_out/secret.txt": ErrorCode.OUTSIDE_WORKSPACE,
    "a/../../outside/secret.txt": ErrorCode.OUTSIDE_WORKSPACE,
    "/etc/hostname": ErrorCode.OUTSIDE_WORKSPACE,
    "..": ErrorCode.OUTSIDE_WORKSPACE,
}


@pytest.mark.parametrize(("path", "code"), REFUSALS.items(), ids=repr)
def test_refusals(layout: tuple[Path, Path], path: str, code: ErrorCode) -> None:
    root, outside = layout
    before = sorted(str(p) for p in root.parent.rglob("*"))
    with pytest.raises(FileSystemError) as caught:
        LocalVfs(root).remove(path)
    assert caught.value.code is code, caught.value.message
    assert sorted(str(p) for p in root.parent.rglob("*")) == before
    assert (outside / "secret.txt").read_text() == "secret"


def test_special_files_are_removed_without_being_opened(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    os.mkfifo(root / "pipe")
    LocalVfs(root).remove("pipe")
    assert not os.path.lexists(root / "pipe")


def test_a_removed_file_leaves_the_recent_files(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    vfs = LocalVfs(root)
    vfs.read("top.txt")
    vfs.read("a/b/inner.txt")
    vfs.remove("top.txt")
    (root / "top.txt").write_text("made again elsewhere")
    inner = FileHash("a/b/inner.txt", hashlib.sha256(b"inner").hexdigest())
    assert vfs.recent_file_hashes(10) == [inner]
