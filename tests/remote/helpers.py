"""Real guests for the remote tests: in-process (an event loop in a thread) or a subprocess."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from sa3p_host._guest import Guest, GuestSettings
from sa3p_host._transport import parse_address

from ..waiting import wait_until


@dataclass(frozen=True, slots=True)
class RunningGuest:
    address: str
    workspace: Path
    guest: Guest | None = None
    portal: BlockingPortal | None = None


def short_socket_path() -> str:
    """A Unix socket path well under the 108-byte limit."""
    directory = tempfile.mkdtemp(prefix="sa3p-", dir="/tmp")
    return os.path.join(directory, "g.sock")


def free_tcp_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def start_guest(
    address: str, workspace: Path, token: bytes | None = None, **settings: object
) -> Iterator[RunningGuest]:
    guest = Guest(
        GuestSettings(workspace=str(workspace.resolve()), token=token, **settings),  # type: ignore[arg-type]
        log=lambda text: None,
    )
    with start_blocking_portal() as portal:
        future = portal.start_task_soon(guest.serve, parse_address(address))
        portal.call(guest.wait_ready)
        try:
            yield RunningGuest(address, workspace, guest=guest, portal=portal)
        finally:
            portal.call(guest.shutdown)
            future.result(timeout=30)
    if address.startswith("unix:"):
        shutil.rmtree(os.path.dirname(address[5:]), ignore_errors=True)


running_guest = contextmanager(start_guest)
"""``with running_guest(address, workspace) as guest:``."""


@pytest.fixture
def unix_guest(workspace: Path) -> Iterator[RunningGuest]:
    yield from start_guest(f"unix:{short_socket_path()}", workspace)


@pytest.fixture
def tcp_guest(workspace: Path) -> Iterator[RunningGuest]:
    yield from start_guest(f"tcp:127.0.0.1:{free_tcp_port()}", workspace)


@pytest.fixture(params=["unix", "tcp"])
def any_guest(request: pytest.FixtureRequest, workspace: Path) -> Iterator[RunningGuest]:
    if request.param == "unix":
        yield from start_guest(f"unix:{short_socket_path()}", workspace)
    else:
        yield from start_guest(f"tcp:127.0.0.1:{free_tcp_port()}", workspace)


def spawn_guest_process(
    address: str, workspace: Path, token_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """``python -m sa3p_host._guest`` as a real process; returns once it accepts connections."""
    command = [sys.executable, "-m", "sa3p_host._guest", "--listen", address]
    command += ["--workspace", str(workspace)]
    if token_file is not None:
        command += ["--token-file", str(token_file)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    target = parse_address(address)

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"guest exited: {process.stderr.read() if process.stderr else ''!r}")
        return _accepts(target)

    try:
        wait_until(listening, 20, f"the guest to listen on {address}")
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


def _accepts(target: object) -> bool:
    from sa3p_host._transport import TcpAddress, UnixAddress

    try:
        if isinstance(target, UnixAddress):
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(target.path)
        elif isinstance(target, TcpAddress):
            with socket.create_connection((target.host, target.port), timeout=1):
                pass
        return True
    except OSError:
        return False


class RecordingRelay:
    """A TCP relay on 127.0.0.1 that forwards to ``target`` and records both directions."""

    def __init__(self, target: tuple[str, int]) -> None:
        import threading

        self.target = target
        self.upstream = bytearray()  # client → guest
        self.downstream = bytearray()  # guest → client
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import threading

        try:
            client, _ = self._server.accept()
        except OSError:
            return
        guest = socket.create_connection(self.target)
        pumps = [
            threading.Thread(target=_pump, args=(client, guest, self.upstream), daemon=True),
            threading.Thread(target=_pump, args=(guest, client, self.downstream), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join(timeout=30)

    def close(self) -> None:
        self._server.close()


def _pump(source: socket.socket, sink: socket.socket, record: bytearray) -> None:
    try:
        while data := source.recv(65536):
            record += data
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
