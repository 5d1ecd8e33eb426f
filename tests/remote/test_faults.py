"""Faults with a real guest process: SIGTERM, SIGKILL mid-command, a client killed mid-write."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sa3p_engine import ErrorCode as EngineCode
from sa3p_engine import TerminalError
from sa3p_host import RemoteConnectionError, connect, open_remote_backends
from sa3p_protocol import WireErrorCode as ErrorCode

from ..waiting import wait_until, wait_until_async
from .helpers import free_tcp_port, short_socket_path, spawn_guest_process


@pytest.fixture
def guest_process(workspace: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    address = f"unix:{short_socket_path()}"
    process = spawn_guest_process(address, workspace)
    try:
        yield address, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_sigterm_sends_goaway_ends_processes_and_exits_cleanly(
    guest_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, guest = guest_process
    with open_remote_backends(address) as (_vfs, terminal):
        detached = terminal.run("sleep 60", timeout=0.2)
        assert detached.running
        guest.send_signal(signal.SIGTERM)
        assert guest.wait(timeout=20) == 0
        with pytest.raises(TerminalError) as caught:
            terminal.active_pids()
        assert caught.value.code is EngineCode.CONNECTION_LOST
    assert not psutil.pid_exists(detached.pid) or (
        psutil.Process(detached.pid).status() == psutil.STATUS_ZOMBIE
    )
    assert not os.path.exists(address.removeprefix("unix:"))  # the socket file is removed


def test_a_guest_killed_mid_command_is_a_clear_error(
    guest_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, guest = guest_process
    with open_remote_backends(address) as (_vfs, terminal):
        killer = threading.Thread(target=_kill_once_running, args=(guest, "sleep"), daemon=True)
        killer.start()
        started = time.monotonic()
        with pytest.raises(TerminalError) as caught:
            terminal.run("sleep 60", timeout=30)
        assert time.monotonic() - started < 20
        assert caught.value.code is EngineCode.CONNECTION_LOST
        assert address in caught.value.message


def _kill_once_running(guest: subprocess.Popen[bytes], program: str) -> None:
    """SIGKILL ``guest`` once one of its processes runs ``program`` (in a thread: a failed wait
    leaves the guest alive, and the test fails on the command that then does not fail)."""

    def running() -> bool:
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(guest.pid).children(recursive=True)
            return any(_runs(child, program) for child in children)
        return False

    wait_until(running, 20, f"the guest to run {program}")
    guest.kill()


def _runs(process: psutil.Process, program: str) -> bool:
    with contextlib.suppress(psutil.Error):  # it may be gone already
        return process.name() == program
    return False


CLIENT_KILLED_MID_WRITE = textwrap.dedent(
    """
    import sys, time
    from sa3p_host import open_remote_backends
    with open_remote_backends(sys.argv[1]) as (vfs, terminal):
        writer = vfs.open_writer("half.bin")
        for _ in range(8):
            writer.write(b"x" * 65536)
        print("written", flush=True)
        time.sleep(60)
    """
)


def test_a_client_killed_mid_write_commits_nothing(
    guest_process: tuple[str, subprocess.Popen[bytes]], workspace: Path
) -> None:
    address, guest = guest_process
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT_KILLED_MID_WRITE, address], stdout=subprocess.PIPE
    )
    assert client.stdout is not None
    assert client.stdout.readline() == b"written\n"
    client.kill()
    client.wait(timeout=10)
    # neither the file nor a temporary
    wait_until(lambda: os.listdir(workspace) == [], 10, "the guest to drop the write")
    assert guest.poll() is None
    with open_remote_backends(address) as (vfs, _terminal):
        assert vfs.list_tree(".") == []


def test_connecting_to_nothing_says_where(workspace: Path) -> None:
    address = f"tcp:127.0.0.1:{free_tcp_port()}"
    with (
        pytest.raises(RemoteConnectionError, match=re.escape(f"cannot connect to {address}")),
        open_remote_backends(address),
    ):
        pass  # pragma: no cover


def test_a_guest_process_with_a_token_file(workspace: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(b"s3cret-token\n")
    address = f"tcp:127.0.0.1:{free_tcp_port()}"
    guest = spawn_guest_process(address, workspace, token_file)
    try:
        with pytest.raises(RemoteConnectionError, match="token"), open_remote_backends(address):
            pass  # pragma: no cover
        with open_remote_backends(address, b"s3cret-token") as (_vfs, terminal):
            assert terminal.run("printf ok", timeout=10).head == b"ok"
        assert guest.poll() is None
    finally:
        guest.send_signal(signal.SIGTERM)
        assert guest.wait(timeout=20) == 0


@pytest.mark.anyio
async def test_sigterm_reaches_the_client_as_goaway_shutting_down(
    guest_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, guest = guest_process
    async with connect(address) as client:
        guest.send_signal(signal.SIGTERM)
        await wait_until_async(lambda: client.connection_error is not None, 20, "the GOAWAY")
        assert client.connection_error is not None
        assert client.connection_error.code is ErrorCode.SHUTTING_DOWN
        assert "shutting down" in client.connection_error.message
    assert guest.wait(timeout=20) == 0
