"""What `sa3p run` loads and does only when needed: lazy exports, a terminal made on first use,
early write-back of big writes (a hint that must never change what is written)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sa3p_host
from sa3p_engine import ErrorCode, TerminalError
from sa3p_host import LocalVfs
from sa3p_host._local import _atomic_writes as writer_module
from sa3p_host._run_command import _DeferredTerminal

_LOADED_AFTER_RUN = """
import sys
from sa3p_host._cli import main
status = main(["run", "--workspace", sys.argv[1], "--json", sys.argv[2]])
heavy = ["sa3p_host._local._local_terminal", "sa3p_host._local._git_listing", "rapidfuzz",
         "pathspec", "psutil"]
print(status, *[name for name in heavy if name in sys.modules])
"""


def test_every_export_resolves_and_unknown_names_fail() -> None:
    for name in sa3p_host.__all__:
        assert getattr(sa3p_host, name).__name__ == name
        assert name in dir(sa3p_host)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = sa3p_host.no_such_name


def test_the_command_starts_without_the_engine_the_parser_or_package_metadata() -> None:
    # A run on a session starts its guest first and loads these meanwhile (_load_run_modules).
    script = (
        "import sys, sa3p_host._cli; print(*sorted(n for n in sys.modules if n in ("
        "'sa3p_parser', 'sa3p_engine._engine_drivers', 'sa3p_host._cli_output', "
        "'importlib.metadata', 'anyio')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert done.stdout.decode().strip() == ""


def test_a_reply_without_terminal_or_edit_loads_none_of_their_modules(tmp_path: Path) -> None:
    reply = tmp_path / "reply.txt"
    reply.write_bytes(b'Writing.\n<write_file path="a.txt">hello\n</write_file>\n')
    workspace = tmp_path / "ws"
    workspace.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_AFTER_RUN, str(workspace), str(reply)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    last = result.stdout.decode().splitlines()[-1]
    assert last == "0", f"status and modules loaded: {last!r}"
    assert (workspace / "a.txt").read_bytes() == b"hello\n"


def test_a_terminal_command_still_runs_through_the_deferred_terminal(tmp_path: Path) -> None:
    reply = tmp_path / "reply.txt"
    reply.write_bytes(b"<terminal>echo made-on-demand</terminal>")
    result = subprocess.run(
        [sys.executable, "-m", "sa3p_host", "run", "--workspace", str(tmp_path), "--json"],
        stdin=reply.open("rb"),
        capture_output=True,
        check=True,
        timeout=60,
    )
    first = next(
        line for line in map(json.loads, result.stdout.splitlines()) if line["type"] == "result"
    )
    assert first["ok"] is True and "made-on-demand" in first["rendered"]


def test_deferred_terminal_before_and_after_first_use(tmp_path: Path) -> None:
    terminal = _DeferredTerminal(str(tmp_path))
    assert terminal.active_pids() == []
    result = terminal.run("echo $((6 * 7))", timeout=30.0)
    assert result.exit_code == 0 and b"42" in result.head
    terminal.close()
    with pytest.raises(TerminalError) as caught:
        terminal.run("true", timeout=5.0)
    assert caught.value.code is ErrorCode.CLOSED


def test_deferred_terminal_closed_unused_refuses_commands(tmp_path: Path) -> None:
    terminal = _DeferredTerminal(str(tmp_path))
    terminal.close()  # nothing was started: nothing to end
    assert terminal.active_pids() == []
    with pytest.raises(TerminalError) as caught:
        terminal.run("true", timeout=5.0)
    assert caught.value.code is ErrorCode.CLOSED


@pytest.mark.parametrize("window", [4096, 65536, 1 << 20])
def test_early_writeback_keeps_content_exact_and_the_write_atomic(
    tmp_path: Path, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_WRITEBACK_WINDOW", window)
    monkeypatch.setattr(writer_module, "_WRITEBACK_AFTER", 2 * window)
    (tmp_path / "big.bin").write_bytes(b"old")
    chunks = [bytes([n % 251]) * (150_000 + 7 * n) for n in range(24)]  # ~3.6 MB
    writer = LocalVfs(tmp_path).open_writer("big.bin")
    for chunk in chunks:
        writer.write(chunk)
    assert (tmp_path / "big.bin").read_bytes() == b"old"  # nothing visible before commit
    receipt = writer.commit()
    data = b"".join(chunks)
    assert (tmp_path / "big.bin").read_bytes() == data
    assert (receipt.bytes_written, receipt.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_writeback_hint_refused_or_missing_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_WRITEBACK_WINDOW", 4096)
    monkeypatch.setattr(writer_module, "_WRITEBACK_AFTER", 8192)
    monkeypatch.setattr(writer_module, "_DONT_NEED", -12345)  # EINVAL from the kernel
    data = bytes(range(256)) * 12_000  # ~3 MB, through the worker
    vfs = LocalVfs(tmp_path)
    writer = vfs.open_writer("a.bin")
    for start in range(0, len(data), 100_000):
        writer.write(data[start : start + 100_000])
    assert writer.commit().sha256 == hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(writer_module, "_DONT_NEED", None)  # an OS without posix_fadvise
    writer = vfs.open_writer("b.bin")
    for start in range(0, len(data), 100_000):
        writer.write(data[start : start + 100_000])
    writer.commit()
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes() == data
