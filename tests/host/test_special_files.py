"""FIFOs, devices, sockets and links to them never hang or flood: each operation refuses them
within a second, with an error naming the path and what it is; listings skip hostile git
metadata (a FIFO or a link to ``/dev/zero`` as ``.gitignore``, ``.git/index``, …)."""

from __future__ import annotations

import functools
import os
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sa3p_engine import Engine, ErrorCode, FileSystemError
from sa3p_engine.testing import ScriptedTerminal
from sa3p_host import LocalVfs
from sa3p_parser import InstructionParser

from .host_helpers import finishes_within

QUICK = 1.0


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "ok.txt").write_bytes(b"fine")
    return root


def _make_special(path: Path, kind: str) -> Iterator[None]:
    if kind == "FIFO":
        os.mkfifo(path)
        yield
    elif kind == "character device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # what /dev/zero is
        except PermissionError:
            pytest.skip("making a device node needs root")
        yield
    else:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(path))
            yield


@pytest.fixture(params=["FIFO", "character device", "socket"])
def special(request: pytest.FixtureRequest, workspace: Path) -> Iterator[str]:
    """``src/x`` is a special file of each kind; yields what messages call it."""
    for _ in _make_special(workspace / "src" / "x", request.param):
        yield str(request.param)


def _refused_quickly(action: Callable[[], object]) -> FileSystemError:
    started = time.monotonic()
    outcome = finishes_within(10 * QUICK, action)
    assert time.monotonic() - started < QUICK
    assert isinstance(outcome, FileSystemError), f"expected a refusal, got {outcome!r}"
    return outcome


@pytest.mark.usefixtures("resolver")
def test_read_hash_and_stat_refuse_special_files(workspace: Path, special: str) -> None:
    vfs = LocalVfs(workspace)
    assert vfs.read("src/ok.txt") == b"fine"
    for action in (
        lambda: vfs.read("src/x"),
        lambda: vfs.read("src/x", 0, 10),
        lambda: vfs.hash("src/x"),
        lambda: vfs.stat("src/x"),
    ):
        error = _refused_quickly(action)
        assert error.code is ErrorCode.INVALID_PATH
        assert error.message == f"src/x is a {special}, not a regular file"


@pytest.mark.usefixtures("resolver")
def test_listings_pass_special_files_by(workspace: Path, special: str) -> None:
    vfs = LocalVfs(workspace)
    started = time.monotonic()
    nodes = finishes_within(10 * QUICK, lambda: vfs.list_tree(""))
    assert time.monotonic() - started < QUICK
    assert isinstance(nodes, list)
    assert [node.path for node in nodes] == ["src", "src/ok.txt"]  # git lists none of them
    error = _refused_quickly(lambda: vfs.list_tree("src/x"))
    assert error.code is ErrorCode.NOT_A_DIRECTORY and "src/x" in error.message


@pytest.mark.usefixtures("resolver")
def test_a_link_to_dev_zero_is_outside_the_workspace(workspace: Path) -> None:
    (workspace / "zero").symlink_to("/dev/zero")
    (workspace / "src" / "up").symlink_to("../../../../../../../../dev/zero")
    vfs = LocalVfs(workspace)
    actions: list[Callable[[str], object]] = [vfs.read, vfs.hash, vfs.stat]
    for action in actions:
        for path in ("zero", "src/up"):
            error = _refused_quickly(functools.partial(action, path))
            assert error.code is ErrorCode.OUTSIDE_WORKSPACE


def test_recent_file_hashes_leave_out_a_file_that_became_special(
    workspace: Path, special: str
) -> None:
    vfs = LocalVfs(workspace)
    fifo = workspace / "src" / "was_a_file"
    fifo.write_bytes(b"text")
    vfs.read("src/was_a_file")
    vfs.read("src/ok.txt")
    fifo.unlink()
    os.mkfifo(fifo)
    started = time.monotonic()
    recent = finishes_within(10 * QUICK, lambda: vfs.recent_file_hashes(10))
    assert time.monotonic() - started < QUICK
    assert isinstance(recent, list)
    assert [item.path for item in recent] == ["src/ok.txt"]


def test_engine_commands_on_a_fifo_fail_at_once(workspace: Path) -> None:
    os.mkfifo(workspace / "src" / "pipe")
    document = (
        b'<read_file path="src/pipe"/>'
        b'<apply_edit path="src/pipe"><search>a</search><replace>b</replace></apply_edit>'
    )

    def run() -> list[str]:
        parser = InstructionParser()
        with Engine(LocalVfs(workspace), ScriptedTerminal()) as engine:
            for instruction in [*parser.feed(document), *parser.finish()]:
                engine.feed(instruction)
            turn = engine.finish_turn()  # hashes the recent files: must not block either
        return [output.render() for output in turn.outputs]

    started = time.monotonic()
    rendered = finishes_within(10 * QUICK, run)
    assert time.monotonic() - started < 5 * QUICK
    assert isinstance(rendered, list) and len(rendered) == 2
    for text in rendered:
        assert "FAILED" in text and "src/pipe is a FIFO, not a regular file" in text


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _replace(path: Path, *, link_to: str | None = None) -> None:
    """Put a FIFO (or a symlink to ``link_to``) where ``path`` was."""
    subprocess.run(["rm", "-rf", str(path)], check=True)
    if link_to is None:
        os.mkfifo(path)
    else:
        path.symlink_to(link_to)


HOSTILE: dict[str, tuple[str, str | None]] = {  # case: (path, what it links to, or a FIFO)
    ".gitignore as a FIFO": (".gitignore", None),
    ".gitignore linked to /dev/zero": (".gitignore", "/dev/zero"),
    "nested .gitignore as a FIFO": ("src/.gitignore", None),
    ".git/index as a FIFO": (".git/index", None),
    ".git/index linked to /dev/zero": (".git/index", "/dev/zero"),
    ".git/info/exclude as a FIFO": (".git/info/exclude", None),
    ".git/config as a FIFO": (".git/config", None),
    ".git as a FIFO": (".git", None),
    ".git linked to /dev": (".git", "/dev"),
    "a 1 GiB sparse .gitignore": (".gitignore", ""),
}


def _make_hostile(root: Path, case: str) -> None:
    path, link_to = HOSTILE[case]
    if link_to == "":
        (root / path).touch()
        os.truncate(root / path, 1 << 30)
    else:
        _replace(root / path, link_to=link_to)


@pytest.mark.usefixtures("resolver")
@pytest.mark.parametrize("case", HOSTILE)
def test_listings_survive_hostile_git_metadata(workspace: Path, case: str) -> None:
    _git(workspace, "init", "-q")
    _git(workspace, "add", "src/ok.txt")
    (workspace / ".git" / "info").mkdir(exist_ok=True)
    (workspace / ".git" / "info" / "exclude").unlink(missing_ok=True)
    _make_hostile(workspace, case)
    vfs = LocalVfs(workspace)
    for path in ("", "src"):
        started = time.monotonic()
        nodes = finishes_within(10 * QUICK, functools.partial(vfs.list_tree, path))
        assert time.monotonic() - started < QUICK, case
        assert isinstance(nodes, list), nodes
        assert "src/ok.txt" in {node.path for node in nodes}


def test_a_cloned_repository_with_gitignore_linked_to_dev_zero(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q")
    (origin / ".gitignore").symlink_to("/dev/zero")
    (origin / "README").write_text("hello\n")
    _git(origin, "add", ".gitignore", "README")
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hostile")
    _git(tmp_path, "clone", "-q", str(origin), "clone")
    vfs = LocalVfs(tmp_path / "clone")
    started = time.monotonic()
    nodes = finishes_within(10 * QUICK, lambda: vfs.list_tree(""))
    assert time.monotonic() - started < QUICK
    assert isinstance(nodes, list)
    assert {node.path for node in nodes} == {".gitignore", "README"}
    assert _refused_quickly(lambda: vfs.read(".gitignore")).code is ErrorCode.OUTSIDE_WORKSPACE
