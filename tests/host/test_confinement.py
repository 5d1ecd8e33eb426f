"""Every path resolves inside the workspace root, or the operation fails and touches nothing.

Each test runs twice: with ``openat2``'s fast path and with the component walk alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sa3p_engine import ErrorCode, FileSystemError
from sa3p_host import LocalVfs
from sa3p_host._local import _linux_calls

pytestmark = pytest.mark.usefixtures("resolver")


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


OUTSIDE_PATHS = [
    "../outside/secret.txt",
    "a/../../outside/secret.txt",
    "a/b/../../../outside/secret.txt",
    "link_out/secret.txt",
    "a/b/deep_up/outside/secret.txt",
    "a/b/deep_up/ws/top.txt",  # out through a link and back in: never followed out
    "link_out/../ws/top.txt",
    "rel_out/secret.txt",
    "dangling_out",
    "/etc/passwd",
    "/",
    "..",
]


def _operations(vfs: LocalVfs, path: str) -> list[Callable[[], object]]:
    def write() -> object:
        writer = vfs.open_writer(path)
        writer.write(b"pwned")
        return writer.commit()

    return [
        lambda: vfs.read(path),
        lambda: vfs.stat(path),
        lambda: vfs.hash(path),
        lambda: vfs.list_tree(path),
        write,
    ]


@pytest.mark.parametrize("path", OUTSIDE_PATHS, ids=repr)
def test_paths_leaving_the_root_are_refused_by_every_operation(
    layout: tuple[Path, Path], path: str
) -> None:
    root, outside = layout
    before = _snapshot(outside)
    vfs = LocalVfs(root)
    for operation in _operations(vfs, path):
        with pytest.raises(FileSystemError) as caught:
            operation()
        assert caught.value.code is ErrorCode.OUTSIDE_WORKSPACE
        assert path in caught.value.message
    assert _snapshot(outside) == before
    assert not (outside / "new.txt").exists()


def test_dotdot_after_a_symlink_is_resolved_after_the_link(layout: tuple[Path, Path]) -> None:
    # link_in/.. is a/ (the parent of the link's target, as the kernel sees it), not the root.
    root, _ = layout
    (root / "a" / "in_a.txt").write_text("in a")
    vfs = LocalVfs(root)
    assert vfs.read("link_in/../in_a.txt") == b"in a"
    assert vfs.stat("link_in/../in_a.txt").path == "a/in_a.txt"
    assert vfs.read("link_in/../../top.txt") == b"top"


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("top.txt", b"top"),
        ("./top.txt", b"top"),
        ("a/../top.txt", b"top"),
        ("a/b/inner.txt", b"inner"),
        ("link_in/inner.txt", b"inner"),
        ("abs_in/inner.txt", b"inner"),  # an absolute link that stays under the root
        (".//a/./b//inner.txt", b"inner"),
    ],
)
def test_paths_inside_the_root_work(layout: tuple[Path, Path], path: str, content: bytes) -> None:
    root, _ = layout
    assert LocalVfs(root).read(path) == content


def test_absolute_paths_inside_the_root_work(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    vfs = LocalVfs(root)
    assert vfs.read(str(root / "top.txt")) == b"top"
    writer = vfs.open_writer(str(root / "a" / "new.txt"))
    writer.write(b"x")
    assert writer.commit().path == "a/new.txt"


def test_root_reached_through_a_symlink(layout: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = layout
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    vfs = LocalVfs(alias)
    assert vfs.read(str(alias / "top.txt")) == b"top"
    assert vfs.cwd() == str(root)


def test_dangling_symlink_inside_is_written_through(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    writer = LocalVfs(root).open_writer("dangling_in")
    writer.write(b"through")
    assert writer.commit().path == "made_through_link.txt"
    assert (root / "made_through_link.txt").read_bytes() == b"through"


def test_nul_bytes_are_invalid(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    vfs = LocalVfs(root)
    for operation in _operations(vfs, "top.txt\0../../etc/passwd"):
        with pytest.raises(FileSystemError) as caught:
            operation()
        assert caught.value.code is ErrorCode.INVALID_PATH


def test_symlink_loop_is_an_error_not_a_crash(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    with pytest.raises(FileSystemError) as caught:
        LocalVfs(root).read("loop1")
    assert caught.value.code in {ErrorCode.INVALID_PATH, ErrorCode.OUTSIDE_WORKSPACE}


def test_directory_swapped_for_a_symlink_before_commit(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    (root / "victim").mkdir()
    vfs = LocalVfs(root)
    writer = vfs.open_writer("victim/file.txt")
    writer.write(b"data")
    os.rename(root / "victim", root / "victim_moved")
    (root / "victim").symlink_to(outside)
    with pytest.raises(FileSystemError) as caught:
        writer.commit()
    assert caught.value.code is ErrorCode.OUTSIDE_WORKSPACE
    assert not (outside / "file.txt").exists()


def test_results_name_the_file_a_link_inside_leads_to(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    vfs = LocalVfs(root)
    assert vfs.stat("link_in/inner.txt").path == "a/b/inner.txt"
    assert vfs.stat("abs_in").path == "a/b"
    vfs.read("link_in/inner.txt")
    assert [item.path for item in vfs.recent_file_hashes(5)] == ["a/b/inner.txt"]


SEGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "a",
        "b",
        "link_out",
        "link_in",
        "abs_in",
        "rel_out",
        "deep_up",
        "dangling_out",
        "top.txt",
        "",
        "x",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segments=st.lists(SEGMENTS, max_size=6), absolute=st.booleans())
def test_any_path_resolves_inside_or_fails(
    layout: tuple[Path, Path], segments: list[str], absolute: bool
) -> None:
    root, outside = layout
    before = _snapshot(outside)
    path = "/".join(segments)
    if absolute:
        path = str(root) + "/" + path
    vfs = LocalVfs(root)
    try:
        resolved = vfs._confinement.resolve(path)
    except FileSystemError as error:
        assert error.code in {
            ErrorCode.OUTSIDE_WORKSPACE,
            ErrorCode.INVALID_PATH,
            ErrorCode.NOT_A_DIRECTORY,
        }
    else:
        real = os.path.realpath(os.path.join(root, resolved.relative))
        assert os.path.commonpath([real, str(root)]) == str(root)
    for operation in _operations(vfs, path):
        with contextlib.suppress(FileSystemError):
            operation()
    assert _snapshot(outside) == before
    assert not (outside / "new.txt").exists()


def _outcome(action: Callable[[], object]) -> object:
    try:
        result = action()
    except FileSystemError as error:
        return error.code
    return [node.path for node in result] if isinstance(result, list) else result


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segments=st.lists(SEGMENTS, max_size=6))
def test_both_resolvers_agree(layout: tuple[Path, Path], segments: list[str]) -> None:
    root, _ = layout
    vfs = LocalVfs(root)
    path = "/".join(segments)
    outcomes = []
    for walk_only in (False, True):
        _linux_calls.disable_openat2(walk_only)
        outcomes.append(
            [
                _outcome(lambda: vfs.stat(path)),
                _outcome(lambda: vfs.read(path)),
                _outcome(lambda: vfs.list_tree(path)),
                _outcome(lambda: vfs._confinement.resolve(path)),
            ]
        )
    assert outcomes[0] == outcomes[1]
