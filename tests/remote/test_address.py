"""ADDR parsing (unix:, tcp: incl. [v6], vsock:), loopback rules, and a live vsock test that
skips cleanly where the machine has no vsock loopback."""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_host._transport import (
    VMADDR_CID_ANY,
    AddressError,
    TcpAddress,
    UnixAddress,
    VsockAddress,
    is_loopback,
    listen_address,
    parse_address,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unix:/run/sa3p.sock", UnixAddress("/run/sa3p.sock")),
        ("unix:relative.sock", UnixAddress("relative.sock")),
        ("tcp:127.0.0.1:7000", TcpAddress("127.0.0.1", 7000)),
        ("tcp:localhost:0", TcpAddress("localhost", 0)),
        ("tcp:[::1]:7000", TcpAddress("::1", 7000)),
        ("tcp:[fe80::1%eth0]:22", TcpAddress("fe80::1%eth0", 22)),
        ("vsock:3:5000", VsockAddress(3, 5000)),
        ("vsock:-1:5000", VsockAddress(VMADDR_CID_ANY, 5000)),
        ("vsock:any:5000", VsockAddress(VMADDR_CID_ANY, 5000)),
    ],
)
def test_valid_addresses(text: str, expected: object) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected unix:PATH"),
        ("/run/sa3p.sock", "expected unix:PATH"),
        ("http:x:80", "unknown scheme"),
        ("unix:", "needs a path"),
        ("tcp:127.0.0.1", "HOST:PORT"),
        ("tcp::80", "HOST:PORT"),
        ("tcp:::1:80", "HOST:PORT"),
        ("tcp:[::1]80", "[HOST]:PORT"),
        ("tcp:[nope]:80", "not an IPv6 address"),
        ("tcp:host:http", "decimal number"),
        ("tcp:host:70000", "outside 0..65535"),
        ("vsock:3", "decimal number"),
        ("vsock:x:1", "decimal number"),
    ],
)
def test_invalid_addresses_say_why(text: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_address(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_raises_address_error(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError as error:
        assert error.text == text
    else:
        assert parse_address(str(address)) == address


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(), st.integers(0, 65535))
def test_tcp_addresses_round_trip(host: object, port: int) -> None:
    address = TcpAddress(str(host), port)
    assert parse_address(str(address)) == address


def test_loopback_rules() -> None:
    assert is_loopback(parse_address("unix:/x"))
    assert is_loopback(parse_address("tcp:127.0.0.1:1"))
    assert is_loopback(parse_address("tcp:127.3.4.5:1"))
    assert is_loopback(parse_address("tcp:[::1]:1"))
    assert is_loopback(parse_address("tcp:localhost:1"))
    assert not is_loopback(parse_address("tcp:0.0.0.0:1"))
    assert not is_loopback(parse_address("tcp:10.0.0.1:1"))
    assert not is_loopback(parse_address("tcp:example.com:1"))
    assert not is_loopback(parse_address("vsock:3:1"))


def test_a_stale_socket_file_is_replaced_but_nothing_else(tmp_path: Path) -> None:
    stale = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as old:
        old.bind(str(stale))

    async def listen_twice() -> None:
        listener = await listen_address(UnixAddress(str(stale)))
        await listener.aclose()
        regular = tmp_path / "file"
        regular.write_text("keep me")
        with pytest.raises(OSError):
            await listen_address(UnixAddress(str(regular)))
        assert regular.read_text() == "keep me"

    anyio.run(listen_twice)


VSOCK_LOOPBACK_CID = 1


def test_vsock_live_or_skip(workspace: Path) -> None:
    """A guest on vsock loopback (CID 1), when the kernel offers it (vsock_loopback)."""
    family = getattr(socket, "AF_VSOCK", None)
    if family is None:
        pytest.skip("no AF_VSOCK in this Python/OS")
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((VSOCK_LOOPBACK_CID, socket.VMADDR_PORT_ANY))
            port = probe.getsockname()[1]
    except OSError as error:
        pytest.skip(f"no vsock loopback here ({error.strerror})")
    from sa3p_host import open_remote_backends

    from .helpers import running_guest

    with (
        running_guest(f"vsock:{VSOCK_LOOPBACK_CID}:{port}", workspace) as guest,
        open_remote_backends(guest.address) as (vfs, _terminal),
    ):
        writer = vfs.open_writer("v.txt")
        writer.write(b"over vsock")
        writer.commit()
        assert vfs.read("v.txt") == b"over vsock"
