"""A guest survives any number of hostile connections: no descriptors left, idle peers that
never authenticate, floods of them; it keeps serving a good client and gives memory back."""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil

from sa3p_host import RemoteConnectionError, open_remote_backends

from ..waiting import wait_until
from .helpers import short_socket_path

DESCRIPTORS = 64


@contextlib.contextmanager
def guest_process(workspace: Path, *, descriptors: int | None = None) -> Iterator[tuple[str, int]]:
    """A real guest process (``sa3p serve``), optionally with few file descriptors."""
    path = short_socket_path()

    def limit() -> None:
        if descriptors is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))

    command = [sys.executable, "-m", "sa3p_host", "serve", "--listen", f"unix:{path}"]
    process = subprocess.Popen(
        [*command, "--workspace", str(workspace)],
        preexec_fn=limit,  # noqa: PLW1509 - the test's own child, before any thread
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _accepts(path), 20, "the guest listens")
        yield f"unix:{path}", process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait()


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:  # not bound yet, or bound and not yet listening
            return False
    return True


def _idle_connections(path: str, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX)
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
            sock.connect(path)
        sockets.append(sock)
    return sockets


def _good_client_works(address: str) -> bool:
    try:
        with open_remote_backends(address) as (vfs, _terminal):
            return vfs.stat(".").kind.value == "directory"
    except RemoteConnectionError:  # not yet admitted: the guest is busy with the others
        return False


def test_the_guest_survives_descriptor_exhaustion_and_keeps_serving(tmp_path: Path) -> None:
    with guest_process(tmp_path, descriptors=DESCRIPTORS) as (address, pid):
        idle = _idle_connections(address[5:], 3 * DESCRIPTORS)  # more than it has descriptors
        try:
            wait_until(lambda: _good_client_works(address), 30, "a good client is served")
            assert psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
        finally:
            for sock in idle:
                sock.close()
        assert _good_client_works(address)


def test_memory_returns_after_unauthenticated_peers_are_gone(tmp_path: Path) -> None:
    with guest_process(tmp_path) as (address, pid):
        guest = psutil.Process(pid)
        assert _good_client_works(address)
        before = guest.memory_info().rss
        for _ in range(4):  # 4 x 250 connections that send a big header and nothing else
            idle = _idle_connections(address[5:], 250)
            for sock in idle:
                with contextlib.suppress(OSError):
                    sock.send(b"SA3P\0\0\0\0\x70\0\x10\0\0" + b"x" * 2048)
            for sock in idle:
                sock.close()
        wait_until(lambda: _good_client_works(address), 30, "a good client is served")
        assert guest.memory_info().rss <= 1.2 * before + 4 * 1024 * 1024
