"""Token challenge-response, loopback-only without a token, socket modes, and peers that send
garbage, oversized frames or floods of streams: only that connection ends."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from sa3p_engine import ErrorCode as EngineCode
from sa3p_engine import FileSystemError
from sa3p_host import RemoteConnectionError, connect, open_remote_backends
from sa3p_host._guest import Guest, GuestSettings, serve_forever
from sa3p_host._transport import parse_address
from sa3p_protocol import (
    HEADER_LEN,
    MAGIC,
    Connection,
    ConnectionFailed,
    Frame,
    GoAwayReceived,
    Opcode,
    Role,
    encode_message,
)
from sa3p_protocol import WireErrorCode as ErrorCode
from sa3p_protocol.messages import StatRequest

from ..waiting import wait_for
from .helpers import (
    RecordingRelay,
    RunningGuest,
    free_tcp_port,
    running_guest,
    short_socket_path,
    start_guest,
)

TOKEN = b"correct horse battery staple"


@pytest.fixture
def token_guest(workspace: Path) -> Iterator[RunningGuest]:
    yield from start_guest(f"tcp:127.0.0.1:{free_tcp_port()}", workspace, token=TOKEN)


def _still_serves(guest: RunningGuest, token: bytes | None = None) -> None:
    with open_remote_backends(guest.address, token) as (vfs, _terminal):
        writer = vfs.open_writer("alive.txt")
        writer.write(b"yes")
        writer.commit()
        assert vfs.read("alive.txt") == b"yes"


def test_the_right_token_is_accepted(token_guest: RunningGuest) -> None:
    _still_serves(token_guest, TOKEN)


def test_a_wrong_token_is_refused_before_anything_runs(token_guest: RunningGuest) -> None:
    with (
        pytest.raises(RemoteConnectionError) as caught,
        open_remote_backends(token_guest.address, b"wrong") as (vfs, _terminal),
    ):
        vfs.open_writer("never.txt").commit()  # pragma: no cover - must not be reached
    assert caught.value.code in (ErrorCode.AUTH_FAILED, ErrorCode.CONNECTION_LOST)
    assert "token" in str(caught.value)
    assert not (token_guest.workspace / "never.txt").exists()
    _still_serves(token_guest, TOKEN)


def test_a_client_without_a_token_is_told_one_is_needed(token_guest: RunningGuest) -> None:
    with (
        pytest.raises(RemoteConnectionError, match="requires a token"),
        open_remote_backends(token_guest.address, None),
    ):
        pass  # pragma: no cover
    _still_serves(token_guest, TOKEN)


def test_a_client_with_a_token_refuses_a_guest_that_cannot_prove_it(
    tcp_guest: RunningGuest,
) -> None:
    with (
        pytest.raises(RemoteConnectionError, match="prove"),
        open_remote_backends(tcp_guest.address, TOKEN),
    ):
        pass  # pragma: no cover


def test_the_token_never_crosses_the_wire(token_guest: RunningGuest) -> None:
    port = int(token_guest.address.rsplit(":", 1)[1])
    relay = RecordingRelay(("127.0.0.1", port))
    try:
        with open_remote_backends(f"tcp:127.0.0.1:{relay.port}", TOKEN) as (vfs, _terminal):
            vfs.cwd()
    finally:
        relay.close()
    assert relay.upstream and relay.downstream
    for record in (bytes(relay.upstream), bytes(relay.downstream)):
        assert TOKEN not in record
        assert TOKEN[:8] not in record


def test_unix_socket_is_private(unix_guest: RunningGuest) -> None:
    path = unix_guest.address.removeprefix("unix:")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_non_loopback_tcp_without_a_token_is_refused(workspace: Path) -> None:
    errors = io.StringIO()
    status = serve_forever(f"tcp:0.0.0.0:{free_tcp_port()}", str(workspace), None, err=errors)
    assert status == 2
    assert "without a token" in errors.getvalue()


def test_bad_arguments_are_usage_errors(workspace: Path) -> None:
    errors = io.StringIO()
    assert serve_forever("http://x", str(workspace), None, err=errors) == 2
    assert serve_forever("unix:/tmp/x.sock", str(workspace / "missing"), None, err=errors) == 2
    assert "not a directory" in errors.getvalue()


def test_ipv6_loopback(workspace: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        port = free_tcp_port("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with running_guest(f"tcp:[::1]:{port}", workspace) as guest:
        _still_serves(guest)


# ---- peers that break the protocol ------------------------------------------------------------


def _raw_connect(guest: RunningGuest) -> socket.socket:
    address = guest.address
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(address[5:])
    else:
        host, port = address[4:].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
    sock.settimeout(10)
    return sock


def _read_until_closed(sock: socket.socket, client: Connection) -> list[object]:
    """Events until the guest closes (a reset counts: it closed with our bytes unread)."""
    events: list[object] = []
    with contextlib.suppress(ConnectionResetError):
        while data := sock.recv(65536):
            events += client.receive_data(data)
    return events


def _handshake(sock: socket.socket) -> Connection:
    client = Connection(Role.CLIENT)
    sock.sendall(client.data_to_send())
    while client.max_send_payload == 0:
        client.receive_data(sock.recv(65536))
    sock.sendall(client.data_to_send())  # AUTH
    return client


def _goaway_code(events: list[object]) -> ErrorCode | None:
    codes = [e.code for e in events if isinstance(e, GoAwayReceived | ConnectionFailed)]
    return codes[0] if codes else None


def test_garbage_bytes_end_only_that_connection(unix_guest: RunningGuest) -> None:
    with _raw_connect(unix_guest) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    assert data == b"" or MAGIC in data  # closed, at most with a GOAWAY
    _still_serves(unix_guest)


def test_bad_magic_after_the_handshake_gets_a_goaway(unix_guest: RunningGuest) -> None:
    with _raw_connect(unix_guest) as sock:
        client = _handshake(sock)
        sock.sendall(b"XXXX" + bytes(HEADER_LEN - 4))
        events = _read_until_closed(sock, client)
    assert _goaway_code(events) is ErrorCode.INVALID_MAGIC
    _still_serves(unix_guest)


def test_an_oversized_frame_is_refused_at_its_header(unix_guest: RunningGuest) -> None:
    with _raw_connect(unix_guest) as sock:
        client = _handshake(sock)
        header = MAGIC + (1).to_bytes(4, "big") + bytes([Opcode.VFS_WRITE_CHUNK])
        sock.sendall(header + (1 << 31).to_bytes(4, "big"))  # 2 GiB announced, none sent
        events = _read_until_closed(sock, client)
    assert _goaway_code(events) is ErrorCode.FRAME_TOO_LARGE
    _still_serves(unix_guest)


def test_a_flood_of_streams_ends_that_connection(unix_guest: RunningGuest) -> None:
    with _raw_connect(unix_guest) as sock:
        client = _handshake(sock)
        payload = encode_message(StatRequest("x"))
        frames = b"".join(Frame(2 * n + 1, Opcode.VFS_STAT, payload).encode() for n in range(1000))
        with contextlib.suppress(OSError):  # the guest may close before reading it all
            sock.sendall(frames)
        events = _read_until_closed(sock, client)
    assert _goaway_code(events) is ErrorCode.STREAM_LIMIT
    _still_serves(unix_guest)


def test_a_silent_peer_is_dropped_after_the_handshake_timeout(workspace: Path) -> None:
    with running_guest(f"unix:{short_socket_path()}", workspace, handshake_timeout=0.3) as guest:
        with _raw_connect(guest) as sock:
            assert sock.recv(65536) == b""  # closed without a word from us
        _still_serves(guest)


def test_a_lost_guest_is_a_connection_error_for_the_engine(workspace: Path) -> None:
    address = f"unix:{short_socket_path()}"
    with running_guest(address, workspace) as guest, open_remote_backends(address) as (vfs, _):
        assert guest.guest is not None and guest.portal is not None
        for link in list(guest.guest._links):
            guest.portal.call(link.abort)  # as if the guest's end of the connection broke
        with pytest.raises(FileSystemError) as caught:
            for _ in range(100):
                vfs.stat(".")
        assert caught.value.code is EngineCode.CONNECTION_LOST


def test_a_ping_flood_ends_that_connection(unix_guest: RunningGuest) -> None:
    with _raw_connect(unix_guest) as sock:
        client = _handshake(sock)
        for opaque in range(20_000):
            client.ping(opaque)
        with contextlib.suppress(OSError):  # the guest may close before reading it all
            sock.sendall(client.data_to_send())
        events = _read_until_closed(sock, client)
    # closed; the GOAWAY saying why may be lost when the close resets the unread flood
    assert _goaway_code(events) in (ErrorCode.CONTROL_FLOOD, None)
    _still_serves(unix_guest)


def test_a_wrong_token_is_reported_plainly_on_both_sides(workspace: Path) -> None:
    logged: list[str] = []
    guest = Guest(GuestSettings(workspace=str(workspace.resolve()), token=TOKEN), log=logged.append)
    address = f"tcp:127.0.0.1:{free_tcp_port()}"
    with start_blocking_portal() as portal:
        future = portal.start_task_soon(guest.serve, parse_address(address))
        portal.call(guest.wait_ready)
        try:
            with (
                pytest.raises(RemoteConnectionError) as caught,
                open_remote_backends(address, b"wrong"),
            ):
                pass  # pragma: no cover
            line = wait_for(
                lambda: next((line for line in logged if "authentication" in line), None),
                10,
                "the guest to log the failed authentication",
            )
        finally:
            portal.call(guest.shutdown)
            future.result(timeout=30)
    assert caught.value.code is ErrorCode.AUTH_FAILED
    text = str(caught.value)
    assert "authentication failed" in text and "token" in text and "differ" in text
    assert "broke the protocol" not in text
    assert "AUTH_FAILED" in line and "differ" in line


async def _async_refusal(address: str) -> RemoteConnectionError:
    with pytest.raises(RemoteConnectionError) as caught:
        async with connect(address, token=b"wrong"):
            pass  # pragma: no cover
    return caught.value


def test_the_async_client_reports_a_wrong_token_the_same_way(token_guest: RunningGuest) -> None:
    error = anyio.run(_async_refusal, token_guest.address)
    assert error.code is ErrorCode.AUTH_FAILED
    assert "authentication failed" in str(error) and "differ" in str(error)
