"""A client that meets a peer other than an sa3p guest fails within 2 s, naming what it met
(PROTOCOL.md §8): both drivers, over TCP and Unix sockets, against real listening peers."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

import anyio
import pytest

from sa3p_host import RemoteConnectionError, connect, open_remote_backends

from .helpers import short_socket_path

Peer = Callable[[socket.socket], None]


def _says(first: bytes) -> Peer:
    """A server that speaks first, as SSH does."""
    return lambda connection: connection.sendall(first)


def _answers(reply: bytes) -> Peer:
    """A server that answers whatever the client sends, as an HTTP or TLS server does."""

    def peer(connection: socket.socket) -> None:
        connection.recv(4096)
        connection.sendall(reply)

    return peer


def _closes(connection: socket.socket) -> None:
    connection.shutdown(socket.SHUT_RDWR)


def _quiet(connection: socket.socket) -> None:
    """Accepts and says nothing."""


@contextlib.contextmanager
def _peer(transport: str, behave: Peer) -> Iterator[str]:
    """Listen on ``transport``; serve one connection with ``behave``, then hold it until the
    client goes (bounded: the thread ends by itself)."""
    if transport == "unix":
        path = short_socket_path()
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(1)
        address = f"unix:{path}"
    else:
        server = socket.create_server((transport, 0))
        address = f"tcp:{transport}:{server.getsockname()[1]}"
    server.settimeout(10)

    def serve() -> None:
        with contextlib.suppress(OSError), server.accept()[0] as connection:
            connection.settimeout(10)
            behave(connection)
            while connection.recv(4096):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield address
    finally:
        thread.join(timeout=15)
        server.close()


def _fail_blocking(address: str) -> RemoteConnectionError:
    with pytest.raises(RemoteConnectionError) as caught, open_remote_backends(address):
        pass  # pragma: no cover
    return caught.value


def _fail_async(address: str) -> RemoteConnectionError:
    async def attempt() -> None:
        async with connect(address):
            pass  # pragma: no cover

    with pytest.raises(RemoteConnectionError) as caught:
        anyio.run(attempt)
    return caught.value


SSH_BANNER = b"SSH-2.0-OpenSSH_9.6\r\n"
HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x46"  # fatal protocol_version (RFC 8446 §6)

AT_ONCE = [
    (_says(SSH_BANNER), r"is not an sa3p guest but an SSH server: it sent b'SSH-2\.0-OpenSSH"),
    (_answers(HTTP_400), r"is not an sa3p guest but an HTTP server: it sent b'HTTP/1\.1 400"),
    (_answers(TLS_ALERT), r"is not an sa3p guest but a TLS server: it sent b'\\x15\\x03"),
    (_says(b"\x00\xffhello\x1b[0m"), r"not an sa3p guest: it sent b'\\x00\\xffhello\\x1b\[0m'"),
    (_says(b"\n"), r"not an sa3p guest: it sent b'\\n', where a guest's greeting starts"),
    (_closes, r"closed the connection without a greeting; is an sa3p guest"),
]
AT_ONCE_IDS = ["ssh", "http", "tls", "garbage", "one-wrong-byte", "closes"]
AFTER_TWO_SECONDS = [
    (_quiet, r"sent no greeting within 2 s; is an sa3p guest \(sa3p serve\) listening there\?"),
    (_says(b"SA3"), r"sent b'SA3' but no whole greeting within 2 s"),
]
DRIVERS = [_fail_blocking, _fail_async]
TRANSPORTS = ["127.0.0.1", "unix"]


@pytest.mark.parametrize("fail", DRIVERS, ids=["blocking", "async"])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("behave", "said"), AT_ONCE, ids=AT_ONCE_IDS)
def test_a_peer_that_is_not_a_guest_fails_at_once_named_by_what_it_did(
    fail: Callable[[str], RemoteConnectionError], transport: str, behave: Peer, said: str
) -> None:
    with _peer(transport, behave) as address:
        started = time.monotonic()
        error = fail(address)
        elapsed = time.monotonic() - started
    assert error.message.startswith(f"the peer at {address} ")
    assert elapsed < 1.5, error.message  # at once, not at the 2 s deadline
    assert re.search(said, error.message), error.message


@pytest.mark.parametrize("fail", DRIVERS, ids=["blocking", "async"])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("behave", "said"), AFTER_TWO_SECONDS, ids=["quiet", "partial"])
def test_a_peer_that_sends_no_greeting_fails_after_two_seconds(
    fail: Callable[[str], RemoteConnectionError], transport: str, behave: Peer, said: str
) -> None:
    with _peer(transport, behave) as address:
        started = time.monotonic()
        error = fail(address)
        elapsed = time.monotonic() - started
    assert 2 <= elapsed < 5, elapsed
    assert re.search(said, error.message), error.message
