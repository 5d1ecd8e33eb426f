"""LocalVfs writes are streamed, atomic, keep the mode, and leave nothing behind on abort."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_engine import ErrorCode, FileSystemError
from sa3p_host import LocalVfs
from sa3p_host._local._atomic_writes import WriteMismatchError


def _write(vfs: LocalVfs, path: str, *chunks: bytes) -> None:
    writer = vfs.open_writer(path)
    for chunk in chunks:
        writer.write(chunk)
    writer.commit()


def _visible(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    _write(LocalVfs(tmp_path), "run.sh", b"#!/bin/sh\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert script.read_bytes() == b"#!/bin/sh\n"


def test_new_file_gets_the_umask_default(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        vfs = LocalVfs(tmp_path)
    finally:
        os.umask(mask)
    _write(vfs, "new.txt", b"x")
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_parents_are_created(tmp_path: Path) -> None:
    _write(LocalVfs(tmp_path), "a/b/c/d.txt", b"deep")
    assert (tmp_path / "a" / "b" / "c" / "d.txt").read_bytes() == b"deep"


def test_abort_leaves_old_file_and_removes_created_parents(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_bytes(b"old")
    vfs = LocalVfs(tmp_path)
    writer = vfs.open_writer("keep.txt")
    writer.write(b"new")
    other = vfs.open_writer("fresh/dir/file.txt")
    other.write(b"x")
    writer.abort()
    other.abort()
    assert (tmp_path / "keep.txt").read_bytes() == b"old"
    assert _visible(tmp_path) == {"keep.txt"}


def test_a_write_in_progress_shows_nothing_in_the_workspace(
    tmp_path: Path, staging_kind: str
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file.txt").write_bytes(b"old")
    vfs = LocalVfs(tmp_path)
    writer = vfs.open_writer("sub/file.txt")
    writer.write(b"partial")
    assert os.listdir(tmp_path / "sub") == ["file.txt"]
    # unnamed: nothing at all; named: only the staging folder, which listings leave out
    assert set(os.listdir(tmp_path)) <= {"sub", ".sa3p-writes"}
    assert [node.path for node in vfs.list_tree("")] == ["sub", "sub/file.txt"]
    writer.commit()
    assert os.listdir(tmp_path) == ["sub"]  # the staging folder goes once it is empty
    assert (tmp_path / "sub" / "file.txt").read_bytes() == b"partial"


def test_user_files_named_like_temporaries_are_never_hidden_or_removed(
    tmp_path: Path, staging_kind: str
) -> None:
    names = [
        ".a.txt.sa3p-0123456789abcdef.tmp",  # what earlier versions named their temporaries
        ".sa3p-0123456789abcdef0123456789abcdef.tmp",
        "0123456789abcdef0123456789abcdef.tmp",
    ]
    old = time.time() - 7200
    for name in names:
        (tmp_path / name).write_bytes(b"mine")
        os.utime(tmp_path / name, (old, old))
    users_folder = tmp_path / ".sa3p-writes"  # a folder of that name, not ours: no marker
    users_folder.mkdir()
    (users_folder / "0123456789abcdef0123456789abcdef.tmp").write_bytes(b"mine too")
    vfs = LocalVfs(tmp_path, stale_temporary_age=-1)
    _write(vfs, "w.txt", b"x")
    _write(vfs, "w.txt", b"replaced")
    listed = {node.path for node in vfs.list_tree("")}
    assert listed >= {*names, ".sa3p-writes", ".sa3p-writes/0123456789abcdef0123456789abcdef.tmp"}
    LocalVfs(tmp_path, stale_temporary_age=-1)  # a start sweeps only our own folder
    for name in names:
        assert (tmp_path / name).read_bytes() == b"mine"
    assert (users_folder / "0123456789abcdef0123456789abcdef.tmp").read_bytes() == b"mine too"
    assert (tmp_path / "w.txt").read_bytes() == b"replaced"


def test_writing_a_directory_or_below_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    vfs = LocalVfs(tmp_path)
    with pytest.raises(FileSystemError) as caught:
        vfs.open_writer("dir")
    assert caught.value.code is ErrorCode.IS_A_DIRECTORY
    with pytest.raises(FileSystemError) as caught:
        vfs.open_writer("").commit()
    assert caught.value.code is ErrorCode.IS_A_DIRECTORY
    with pytest.raises(FileSystemError) as caught:
        vfs.open_writer("file/child.txt").write(b"x")
    assert caught.value.code is ErrorCode.NOT_A_DIRECTORY
    assert "file/child.txt" in caught.value.message


def test_receipt_reports_size_hash_and_creation(tmp_path: Path) -> None:
    vfs = LocalVfs(tmp_path)
    first = vfs.open_writer("f.bin")
    first.write(b"abc")
    receipt = first.commit()
    assert (receipt.path, receipt.bytes_written, receipt.created) == ("f.bin", 3, True)
    assert receipt.sha256 == hashlib.sha256(b"abc").hexdigest()
    second = vfs.open_writer("f.bin")
    assert second.commit().created is False
    assert (tmp_path / "f.bin").read_bytes() == b""


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_chunk_boundaries_carry_no_meaning(data: bytes, cuts: list[int]) -> None:
    import tempfile

    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    with tempfile.TemporaryDirectory() as directory:
        vfs = LocalVfs(directory)
        writer = vfs.open_writer("out.bin")
        for chunk in chunks:
            writer.write(chunk)
        receipt = writer.commit()
        assert Path(directory, "out.bin").read_bytes() == data
        assert receipt.sha256 == hashlib.sha256(data).hexdigest() == vfs.hash("out.bin")


def test_recent_file_hashes_newest_first_and_current(tmp_path: Path) -> None:
    vfs = LocalVfs(tmp_path)
    _write(vfs, "one.txt", b"1")
    _write(vfs, "two.txt", b"2")
    (tmp_path / "three.txt").write_bytes(b"3")
    vfs.read("three.txt")
    vfs.read("one.txt")
    assert [h.path for h in vfs.recent_file_hashes(10)] == ["one.txt", "three.txt", "two.txt"]
    assert [h.path for h in vfs.recent_file_hashes(2)] == ["one.txt", "three.txt"]
    (tmp_path / "one.txt").write_bytes(b"changed elsewhere")
    (tmp_path / "two.txt").unlink()
    hashes = {h.path: h.sha256 for h in vfs.recent_file_hashes(10)}
    assert hashes == {
        "one.txt": hashlib.sha256(b"changed elsewhere").hexdigest(),
        "three.txt": hashlib.sha256(b"3").hexdigest(),
    }


def test_read_ranges_and_errors(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    (tmp_path / "d").mkdir()
    vfs = LocalVfs(tmp_path)
    assert vfs.read("f", 2, 3) == b"234"
    assert vfs.read("f", 8) == b"89"
    assert vfs.read("f", 20) == b""
    for path, code in [("missing", ErrorCode.NOT_FOUND), ("d", ErrorCode.IS_A_DIRECTORY)]:
        with pytest.raises(FileSystemError) as caught:
            vfs.read(path)
        assert caught.value.code is code
        assert path in caught.value.message


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileSystemError) as caught:
        LocalVfs(tmp_path / "nope")
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_large_writes_go_through_the_worker_and_stay_exact(tmp_path: Path) -> None:
    vfs = LocalVfs(tmp_path)
    chunks = [bytes([n % 251]) * (300_000 + n) for n in range(12)]  # ~3.6 MB, past 1 MiB
    writer = vfs.open_writer("big.bin")
    for chunk in chunks:
        writer.write(chunk)
    receipt = writer.commit()
    data = b"".join(chunks)
    assert (tmp_path / "big.bin").read_bytes() == data
    assert (receipt.bytes_written, receipt.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_abort_during_a_large_write_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"old")
    writer = LocalVfs(tmp_path).open_writer("big.bin")
    for _ in range(6):
        writer.write(b"z" * 500_000)
    writer.abort()
    assert os.listdir(tmp_path) == ["big.bin"]
    assert (tmp_path / "big.bin").read_bytes() == b"old"


def test_a_failing_disk_is_reported_at_write_or_commit(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    vfs = LocalVfs(tmp_path)
    writer = vfs.open_writer("f.bin")
    writer.write(b"a" * (2 << 20))  # starts the worker
    assert writer._staged is not None
    os.dup2(os.open("/dev/full", os.O_WRONLY), writer._staged.fd)  # every later write: ENOSPC
    with pytest.raises(FileSystemError) as caught:
        for _ in range(20):
            writer.write(b"b" * 100_000)
        writer.commit()
    assert caught.value.code is ErrorCode.IO_ERROR and "f.bin" in caught.value.message
    assert os.listdir(tmp_path) == []


# ---- issue 6: verified commits and concurrent writers --------------------------------------


def test_commit_checks_the_expected_hash_and_size(tmp_path: Path) -> None:
    vfs = LocalVfs(tmp_path)
    (tmp_path / "kept.txt").write_bytes(b"old")
    content = b"new content\n"
    digest = hashlib.sha256(content).hexdigest()
    for expected in ({"expected_sha256": "0" * 64}, {"expected_size": len(content) + 1}):
        writer = vfs.open_writer("kept.txt")
        writer.write(content)
        with pytest.raises(WriteMismatchError, match=r"kept\.txt") as caught:
            writer.commit(**expected)
        assert caught.value.path == "kept.txt"
        assert (tmp_path / "kept.txt").read_bytes() == b"old"
        assert _visible(tmp_path) == {"kept.txt"}  # the temporary file is gone
    writer = vfs.open_writer("kept.txt")
    writer.write(content)
    receipt = writer.commit(expected_sha256=digest.upper(), expected_size=len(content))
    assert receipt.sha256 == digest
    assert (tmp_path / "kept.txt").read_bytes() == content


def test_a_refused_commit_removes_the_parents_it_created(tmp_path: Path) -> None:
    writer = LocalVfs(tmp_path).open_writer("new/deeper/file.txt")
    writer.write(b"x")
    with pytest.raises(WriteMismatchError):
        writer.commit(expected_size=2)
    assert _visible(tmp_path) == set()


def _race(root: Path, paths: list[str], abort: set[int]) -> list[BaseException]:
    vfs = LocalVfs(root)
    barrier = threading.Barrier(len(paths))
    failures: list[BaseException] = []

    def write(index: int, path: str) -> None:
        try:
            barrier.wait(timeout=10)
            writer = vfs.open_writer(path)
            writer.write(path.encode())
            barrier.wait(timeout=10)  # both temporary files exist before anyone finishes
            if index in abort:
                writer.abort()
            else:
                writer.commit()
        except BaseException as error:  # reported to the test
            failures.append(error)

    threads = [threading.Thread(target=write, args=item) for item in enumerate(paths)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return failures


def test_concurrent_writers_creating_the_same_parents(tmp_path: Path) -> None:
    for attempt in range(40):
        paths = [f"r{attempt}/shared/deep/a.txt", f"r{attempt}/shared/deep/b.txt"]
        assert _race(tmp_path, paths, abort=set()) == []
        for path in paths:
            assert (tmp_path / path).read_bytes() == path.encode()


def test_an_aborting_writer_never_removes_a_directory_still_in_use(tmp_path: Path) -> None:
    for attempt in range(40):
        paths = [f"r{attempt}/shared/a.txt", f"r{attempt}/shared/b.txt"]
        assert _race(tmp_path, paths, abort={attempt % 2}) == []
        kept = paths[1 - attempt % 2]
        assert (tmp_path / kept).read_bytes() == kept.encode()
        assert not (tmp_path / paths[attempt % 2]).exists()


def test_a_commit_makes_its_folder_again_when_an_abort_removes_a_parent_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rare interleaving of the race above, made certain: while this commit makes "r/shared"
    # again, the aborting writer removes "r" under it (mkdir in a removed folder: ENOENT).
    from sa3p_host._local import _confinement

    writer = LocalVfs(tmp_path).open_writer("r/shared/a.txt")
    writer.write(b"kept")
    os.rmdir(tmp_path / "r" / "shared")  # the other writer's abort: both were empty
    os.rmdir(tmp_path / "r")
    make = _confinement.Confinement._make_directory
    vanished: list[str] = []

    def make_once_too_late(walk: object, name: str) -> None:
        if not vanished:
            vanished.append(name)
            raise FileSystemError(ErrorCode.NOT_FOUND, "the parent was removed meanwhile")
        make(walk, name)  # type: ignore[arg-type]

    monkeypatch.setattr(
        _confinement.Confinement, "_make_directory", staticmethod(make_once_too_late)
    )
    writer.commit()
    assert vanished and (tmp_path / "r" / "shared" / "a.txt").read_bytes() == b"kept"
