"""``sa3p serve``: one ready line, never takes a live server's address, replaces a stale socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sa3p_host import open_remote_backends

from .helpers import short_socket_path
from .test_hostile_peers import guest_process


def _serve(path: str, workspace: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sa3p_host", "serve", "--listen", f"unix:{path}"]
    return subprocess.run(
        [*command, "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_serve_refuses_the_address_of_a_live_guest(tmp_path: Path) -> None:
    with guest_process(tmp_path) as (address, _pid):
        second = _serve(address[5:], tmp_path)
        assert second.returncode == 1
        assert second.stderr.splitlines() == [
            f"sa3p serve: cannot listen on {address}: a live server (another sa3p serve?) "
            f"already listens at {address[5:]}; stop it or choose another path"
        ]
        assert os.path.exists(address[5:])  # its socket is not deleted
        with open_remote_backends(address) as (vfs, _terminal):  # the first one still serves
            assert vfs.cwd() == str(tmp_path.resolve())


def test_serve_leaves_the_socket_of_any_listening_server_alone(tmp_path: Path) -> None:
    path = short_socket_path()
    with socket.socket(socket.AF_UNIX) as other:
        other.bind(path)
        other.listen(1)
        second = _serve(path, tmp_path)
        assert second.returncode == 1 and "a live server" in second.stderr
        assert os.path.exists(path)  # neither unlinked nor taken over


def test_serve_replaces_a_stale_socket_and_says_it_is_ready(tmp_path: Path) -> None:
    path = short_socket_path()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # bound, never listening: nothing answers there
    stale.close()
    assert os.path.exists(path)
    command = [sys.executable, "-m", "sa3p_host", "serve", "--listen", f"unix:{path}"]
    process = subprocess.Popen(
        [*command, "--workspace", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        ready = process.stderr.readline()
        assert ready.startswith(f"sa3p serve: ready: listening on unix:{path}, workspace ")
        assert f"pid {process.pid}" in ready
        with open_remote_backends(f"unix:{path}") as (vfs, _terminal):
            assert vfs.cwd() == str(tmp_path.resolve())
    finally:
        process.terminate()
        process.wait(timeout=10)
