"""Conformance checks every backend must pass, as data so hosts can parametrize over them.

``VFS_CONFORMANCE``: each check receives a fresh, empty workspace. ``TERMINAL_CONFORMANCE``: each
check receives a fresh terminal (working directory: an empty workspace; a remote one connected
with live output), which must take ``on_output``; the caller closes it afterwards. Terminal
checks use only the portable commands of ``CONFORMANCE_COMMANDS`` (``printf hello``,
``printf out; printf err >&2``, ``exit 3``, ``printf x; sleep 30``, ``sleep 30``), so both a
real ``bash -c`` terminal and ``ScriptedTerminal.for_conformance()`` can satisfy them. A failed
check raises ``AssertionError`` saying what was expected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sa3p_engine._backend import (
    ErrorCode,
    FileSystemError,
    NodeKind,
    TerminalError,
    TerminalProvider,
    VirtualFileSystem,
)

__all__ = ["TERMINAL_CONFORMANCE", "VFS_CONFORMANCE", "ConformanceCheck"]

BackendT = TypeVar("BackendT")

_SIGKILL = 9
_SIGTERM = 15
_UNUSED_PID = 2**31 - 2
_DETACH_TIMEOUT = 1.0
"""Seconds a check waits before a long command is detached: enough for ``printf x`` to print."""


@dataclass(frozen=True, slots=True)
class ConformanceCheck(Generic[BackendT]):
    """One named check. ``run(backend)`` returns None or raises ``AssertionError``."""

    name: str
    run: Callable[[BackendT], None]

    def __str__(self) -> str:
        return self.name


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _expect_error(
    action: Callable[[], object], codes: set[ErrorCode], what: str
) -> FileSystemError:
    try:
        action()
    except FileSystemError as error:
        _check(
            error.code in codes,
            f"{what}: expected one of {sorted(c.name for c in codes)}, "
            f"got {error.code.name} ({error.message})",
        )
        return error
    raise AssertionError(f"{what}: expected FileSystemError, nothing was raised")


def _write(vfs: VirtualFileSystem, path: str, *chunks: bytes) -> None:
    writer = vfs.open_writer(path)
    for chunk in chunks:
        writer.write(chunk)
    writer.commit()


# --- filesystem checks ------------------------------------------------------------------------


def _write_then_read(vfs: VirtualFileSystem) -> None:
    writer = vfs.open_writer("a.txt")
    writer.write(b"hello ")
    writer.write(b"world")
    receipt = writer.commit()
    _check(receipt.path == "a.txt", f"receipt.path should be 'a.txt', got {receipt.path!r}")
    _check(receipt.bytes_written == 11, f"bytes_written should be 11, got {receipt.bytes_written}")
    digest = hashlib.sha256(b"hello world").hexdigest()
    _check(receipt.sha256 == digest, "receipt.sha256 should be the content's SHA-256 (lower hex)")
    _check(receipt.created, "the first write of a path should report created=True")
    _check(vfs.read("a.txt") == b"hello world", "read should return the committed bytes")
    _write(vfs, "a.txt", b"again")
    _check(vfs.read("a.txt") == b"again", "a second commit should replace the content")


def _replace_reports_not_created(vfs: VirtualFileSystem) -> None:
    _write(vfs, "r.txt", b"one")
    writer = vfs.open_writer("r.txt")
    writer.write(b"two")
    _check(not writer.commit().created, "replacing an existing file should report created=False")


def _nothing_visible_before_commit(vfs: VirtualFileSystem) -> None:
    writer = vfs.open_writer("pending.txt")
    writer.write(b"partial")
    _expect_error(lambda: vfs.stat("pending.txt"), {ErrorCode.NOT_FOUND}, "stat before commit")
    writer.abort()
    _expect_error(lambda: vfs.read("pending.txt"), {ErrorCode.NOT_FOUND}, "read after abort")


def _abort_keeps_old_content(vfs: VirtualFileSystem) -> None:
    _write(vfs, "keep.txt", b"old")
    writer = vfs.open_writer("keep.txt")
    writer.write(b"new content")
    writer.abort()
    _check(vfs.read("keep.txt") == b"old", "an aborted write must leave the old content")


def _writer_closed_after_commit(vfs: VirtualFileSystem) -> None:
    writer = vfs.open_writer("c.txt")
    writer.commit()
    _expect_error(lambda: writer.write(b"x"), {ErrorCode.WRITER_CLOSED}, "write after commit")
    _expect_error(writer.commit, {ErrorCode.WRITER_CLOSED}, "commit after commit")
    writer.abort()  # must do nothing


def _empty_and_binary_content(vfs: VirtualFileSystem) -> None:
    empty = vfs.open_writer("empty.bin").commit()
    _check(empty.bytes_written == 0, "an empty write should report 0 bytes")
    _check(vfs.read("empty.bin") == b"", "an empty file should read as b''")
    data = bytes(range(256)) + b"\r\nline\r\n\tx"
    _write(vfs, "all.bin", data[:100], data[100:])
    _check(vfs.read("all.bin") == data, "every byte value, CRLF and tabs must round-trip")


def _read_offset_and_length(vfs: VirtualFileSystem) -> None:
    _write(vfs, "o.txt", b"0123456789")
    _check(vfs.read("o.txt", 2, 3) == b"234", "read(path, 2, 3) should give bytes 2..4")
    _check(vfs.read("o.txt", 8) == b"89", "read(path, 8) should give the rest")
    _check(vfs.read("o.txt", 20, 5) == b"", "a read past the end should give b''")


def _missing_file(vfs: VirtualFileSystem) -> None:
    _expect_error(lambda: vfs.read("missing.txt"), {ErrorCode.NOT_FOUND}, "read of a missing file")
    _expect_error(lambda: vfs.stat("missing.txt"), {ErrorCode.NOT_FOUND}, "stat of a missing file")
    _expect_error(lambda: vfs.hash("missing.txt"), {ErrorCode.NOT_FOUND}, "hash of a missing file")


def _hash_and_stat(vfs: VirtualFileSystem) -> None:
    _write(vfs, "d/e/f.txt", b"abc")
    _check(vfs.hash("d/e/f.txt") == hashlib.sha256(b"abc").hexdigest(), "hash should be SHA-256")
    stat = vfs.stat("d/e/f.txt")
    _check(stat.kind is NodeKind.FILE and stat.size == 3, f"stat of a 3-byte file gave {stat}")
    directory = vfs.stat("d/e")
    _check(directory.kind is NodeKind.DIRECTORY, "parents should be created at commit")


def _directory_errors(vfs: VirtualFileSystem) -> None:
    _write(vfs, "dir/file.txt", b"x")
    _expect_error(lambda: vfs.read("dir"), {ErrorCode.IS_A_DIRECTORY}, "read of a directory")
    _expect_error(
        lambda: _write(vfs, "dir", b"x"), {ErrorCode.IS_A_DIRECTORY}, "write over a directory"
    )
    _expect_error(
        lambda: _write(vfs, "dir/file.txt/child", b"x"),
        {ErrorCode.NOT_A_DIRECTORY, ErrorCode.IO_ERROR, ErrorCode.INVALID_PATH},
        "write below a file",
    )


def _confined_to_workspace(vfs: VirtualFileSystem) -> None:
    outside = {ErrorCode.OUTSIDE_WORKSPACE, ErrorCode.INVALID_PATH}
    _expect_error(lambda: vfs.read("../outside.txt"), outside, "read of ../outside.txt")
    _expect_error(lambda: vfs.read("a/../../x"), outside, "read of a/../../x")
    _expect_error(lambda: _write(vfs, "../escape.txt", b"x"), outside, "write to ../escape.txt")
    _expect_error(lambda: vfs.list_tree(".."), outside, "list_tree of ..")


def _absolute_path_inside_root(vfs: VirtualFileSystem) -> None:
    _write(vfs, "abs.txt", b"inside")
    root = vfs.cwd()
    _check(bool(root), "cwd() should name the workspace root")
    path = root.rstrip("/") + "/abs.txt"
    _check(vfs.read(path) == b"inside", f"an absolute path inside the root ({path}) should work")


def _list_tree(vfs: VirtualFileSystem) -> None:
    for path in ("src/a.py", "src/b/c.py", "top.txt"):
        _write(vfs, path, b"x")
    nodes = vfs.list_tree(".")
    paths = [node.path for node in nodes]
    expected = ["src", "src/a.py", "src/b", "src/b/c.py", "top.txt"]
    _check(paths == expected, f"list_tree('.') should give {expected}, got {paths}")
    by_path = {node.path: node for node in nodes}
    _check(by_path["src"].kind is NodeKind.DIRECTORY, "src should be a directory")
    _check(by_path["src"].descendant_file_count == 2, "src has 2 files below it")
    _check(by_path["src/b"].descendant_file_count == 1, "src/b has 1 file below it")
    recent = vfs.recently_modified(["top.txt", "src/a.py", "missing.txt", "../outside"])
    _check(
        recent == ["top.txt", "src/a.py"],
        f"files written just now are recently modified (a missing or outside path is left "
        f"out): expected ['top.txt', 'src/a.py'], got {recent}",
    )
    below = [node.path for node in vfs.list_tree("src")]
    _check(below == expected[1:4], f"list_tree('src') should give {expected[1:4]}, got {below}")


def _recent_file_hashes(vfs: VirtualFileSystem) -> None:
    _write(vfs, "first.txt", b"1")
    _write(vfs, "second.txt", b"2")
    recent = vfs.recent_file_hashes(10)
    paths = [item.path for item in recent]
    _check(paths[:2] == ["second.txt", "first.txt"], f"newest first expected, got {paths}")
    _check(recent[0].sha256 == hashlib.sha256(b"2").hexdigest(), "hashes should be current")
    _check(len(vfs.recent_file_hashes(1)) == 1, "the limit should be respected")


def _remove_file(vfs: VirtualFileSystem) -> None:
    _write(vfs, "gone/file.txt", b"x")
    _write(vfs, "gone/kept.txt", b"y")
    vfs.remove("gone/file.txt")
    _expect_error(lambda: vfs.read("gone/file.txt"), {ErrorCode.NOT_FOUND}, "read after remove")
    _check(vfs.read("gone/kept.txt") == b"y", "remove must leave the other files alone")
    _expect_error(lambda: vfs.remove("gone/file.txt"), {ErrorCode.NOT_FOUND}, "remove twice")
    _expect_error(lambda: vfs.remove("gone"), {ErrorCode.IS_A_DIRECTORY}, "remove a directory")
    _check(vfs.read("gone/kept.txt") == b"y", "a refused remove of a directory changes nothing")
    outside = {ErrorCode.OUTSIDE_WORKSPACE, ErrorCode.INVALID_PATH}
    _expect_error(lambda: vfs.remove("../escape.txt"), outside, "remove of ../escape.txt")
    _write(vfs, "gone/file.txt", b"again")
    _check(vfs.read("gone/file.txt") == b"again", "a removed path can be written again")


VFS_CONFORMANCE: tuple[ConformanceCheck[VirtualFileSystem], ...] = tuple(
    ConformanceCheck(function.__name__.lstrip("_"), function)
    for function in (
        _write_then_read,
        _replace_reports_not_created,
        _nothing_visible_before_commit,
        _abort_keeps_old_content,
        _writer_closed_after_commit,
        _empty_and_binary_content,
        _read_offset_and_length,
        _missing_file,
        _hash_and_stat,
        _directory_errors,
        _confined_to_workspace,
        _absolute_path_inside_root,
        _list_tree,
        _recent_file_hashes,
        _remove_file,
    )
)


# --- terminal checks --------------------------------------------------------------------------


def _output(result: object) -> bytes:
    head = getattr(result, "head", b"")
    tail = getattr(result, "tail", b"")
    return bytes(head) + bytes(tail)


def _run_prints_and_exits(terminal: TerminalProvider) -> None:
    result = terminal.run("printf hello", timeout=10.0)
    _check(result.exit_code == 0, f"'printf hello' should exit 0, got {result.exit_code}")
    _check(_output(result) == b"hello", f"output should be b'hello', got {_output(result)!r}")
    _check(result.pid > 0 and not result.running, "a finished command has a pid and is not running")
    _check(result.pid not in terminal.active_pids(), "a finished command is not active")


def _stdout_and_stderr_merged(terminal: TerminalProvider) -> None:
    result = terminal.run("printf out; printf err >&2", timeout=10.0)
    output = _output(result)
    _check(b"out" in output and b"err" in output, f"stdout and stderr both expected: {output!r}")


def _live_output_while_running(provider: TerminalProvider) -> None:
    terminal: Any = provider  # on_output is optional in the interface, required here
    pieces: list[bytes] = []
    result = terminal.run("printf hello", timeout=10.0, on_output=pieces.append)
    _check(
        b"".join(pieces) == _output(result) == b"hello",
        f"on_output should get the output as it comes (b'hello'), got {pieces!r}",
    )
    detached = terminal.run("printf x; sleep 30", timeout=_DETACH_TIMEOUT, on_output=pieces.append)
    _check(b"".join(pieces).endswith(b"x"), "a detached command's output before its timeout")
    polled = terminal.poll(detached.pid, timeout=0.1, on_output=pieces.append)
    _check(polled.running, "a poll of a running command with on_output: still running")
    terminal.signal(detached.pid, _SIGKILL)


def _exit_code_reported(terminal: TerminalProvider) -> None:
    result = terminal.run("exit 3", timeout=10.0)
    _check(result.exit_code == 3, f"'exit 3' should report exit code 3, got {result.exit_code}")


def _timeout_detaches(terminal: TerminalProvider) -> None:
    result = terminal.run("printf x; sleep 30", timeout=_DETACH_TIMEOUT)
    _check(result.running, "a command outliving its timeout should come back still running")
    _check(b"x" in _output(result), "the output printed before the timeout should come back")
    _check(result.pid in terminal.active_pids(), "a detached command should be in active_pids")
    signalled = terminal.signal(result.pid, _SIGKILL)
    _check(signalled.exited, "SIGKILL should end the detached command")
    _check(result.pid not in terminal.active_pids(), "a killed command is no longer active")


def _poll_running(terminal: TerminalProvider) -> None:
    result = terminal.run("sleep 30", timeout=0.2)
    _check(result.running, "'sleep 30' with timeout 0.2 should still be running")
    polled = terminal.poll(result.pid, timeout=0.1)
    _check(polled.running and polled.pid == result.pid, "a poll of a sleeping command: running")
    signalled = terminal.signal(result.pid, _SIGTERM)
    _check(signalled.exited and signalled.signal == _SIGTERM, "SIGTERM should end 'sleep 30'")


def _unknown_pid_refused(terminal: TerminalProvider) -> None:
    for action in (
        lambda: terminal.signal(_UNUSED_PID, _SIGTERM),
        lambda: terminal.poll(_UNUSED_PID, timeout=0.1),
    ):
        try:
            action()
        except TerminalError as error:
            _check(error.code is ErrorCode.UNKNOWN_PROCESS, f"got {error.code.name}")
        else:
            raise AssertionError("a pid this terminal did not start must raise UNKNOWN_PROCESS")


def _close_ends_everything(terminal: TerminalProvider) -> None:
    terminal.run("sleep 30", timeout=0.2)
    terminal.close()
    _check(terminal.active_pids() == [], "close() should end every process")
    try:
        terminal.run("printf hello", timeout=1.0)
    except TerminalError as error:
        _check(
            error.code is ErrorCode.CLOSED, f"run after close: expected CLOSED, got {error.code}"
        )
    else:
        raise AssertionError("run after close() should raise TerminalError(CLOSED)")


TERMINAL_CONFORMANCE: tuple[ConformanceCheck[TerminalProvider], ...] = tuple(
    ConformanceCheck(function.__name__.lstrip("_"), function)
    for function in (
        _run_prints_and_exits,
        _stdout_and_stderr_merged,
        _live_output_while_running,
        _exit_code_reported,
        _timeout_detaches,
        _poll_running,
        _unknown_pid_refused,
        _close_ends_everything,
    )
)
