"""What the sandbox can reach: no network unless asked; the guest's socket in the runtime dir."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sa3p_host._sandbox import SandboxPolicy, sandboxed_command, sandboxed_environment

from ..waiting import wait_until
from .sandbox_support import COMMAND_SECONDS, python_inside

CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5).close()\n"
    "    print('connected')\n"
    "except OSError as error:\n"
    "    print(type(error).__name__)\n"
)


@pytest.fixture
def host_listener() -> Iterator[socket.socket]:
    """A TCP listener on the host's loopback."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(COMMAND_SECONDS)
    with listener:
        yield listener


def connect_from_inside(bwrap: str, policy: SandboxPolicy, port: int) -> str:
    argv = [sys.executable, "-c", CONNECT, str(port)]
    done = subprocess.run(
        sandboxed_command(policy, argv, bwrap=bwrap),
        env=sandboxed_environment(policy, os.environ),
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    return done.stdout.strip() or done.stderr


def test_the_host_loopback_is_unreachable(
    bwrap: str, policy: SandboxPolicy, host_listener: socket.socket
) -> None:
    port = host_listener.getsockname()[1]
    assert connect_from_inside(bwrap, policy, port) == "ConnectionRefusedError"


def test_the_host_loopback_is_reachable_with_network(
    bwrap: str, policy: SandboxPolicy, host_listener: socket.socket
) -> None:
    port = host_listener.getsockname()[1]
    networked = dataclasses.replace(policy, network=True)
    assert connect_from_inside(bwrap, networked, port) == "connected"
    connection, _ = host_listener.accept()
    connection.close()


def test_a_socket_made_inside_the_runtime_dir_is_connectable(
    bwrap: str, policy: SandboxPolicy
) -> None:
    path = os.path.join(policy.runtime_dir, "inside.sock")
    listening = f"{path}.new"  # renamed once listening: the path never refuses a connect
    code = (
        "import os, socket\n"
        f"server = socket.socket(socket.AF_UNIX); server.bind({listening!r}); server.listen(1)\n"
        f"os.rename({listening!r}, {path!r})\n"
        "server.settimeout(30)\n"
        "connection, _ = server.accept(); connection.sendall(b'hello from inside')\n"
    )
    argv = sandboxed_command(policy, [sys.executable, "-c", code], bwrap=bwrap)
    sandbox = subprocess.Popen(argv, env=sandboxed_environment(policy, os.environ))
    try:
        wait_until(lambda: os.path.exists(path), seconds=COMMAND_SECONDS, what="the socket")
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(COMMAND_SECONDS)
            client.connect(path)
            assert client.recv(100) == b"hello from inside"
        assert sandbox.wait(timeout=COMMAND_SECONDS) == 0
    finally:
        sandbox.kill()
        sandbox.wait()


def connects(path: str) -> bool:
    """Whether something listens on the Unix socket ``path`` (it exists before it listens)."""
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True


def test_the_guest_serves_from_inside(bwrap: str, policy: SandboxPolicy) -> None:
    """The real guest command starts confined and listens where the host can connect."""
    path = os.path.join(policy.runtime_dir, "guest.sock")
    guest = [sys.executable, "-m", "sa3p_host._guest", "--listen", f"unix:{path}"]
    argv = sandboxed_command(policy, [*guest, "--workspace", policy.workspace], bwrap=bwrap)
    sandbox = subprocess.Popen(
        argv, env=sandboxed_environment(policy, os.environ), stderr=subprocess.PIPE
    )
    try:
        wait_until(
            lambda: sandbox.poll() is not None or connects(path),
            seconds=COMMAND_SECONDS,
            what="the guest to listen",
        )
        assert sandbox.poll() is None, sandbox.communicate()[1]
    finally:
        sandbox.kill()
        sandbox.communicate(timeout=COMMAND_SECONDS)


def test_unix_sockets_of_the_host_are_not_reachable(
    bwrap: str, policy: SandboxPolicy, tmp_path: Path
) -> None:
    """A service socket in a hidden tree (here the host's /tmp) cannot be connected to."""
    path = str(tmp_path / "service.sock")
    with socket.socket(socket.AF_UNIX) as service:
        service.bind(path)
        service.listen(1)
        code = f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})"
        done = python_inside(bwrap, policy, code)
    assert "FileNotFoundError" in done.stderr
