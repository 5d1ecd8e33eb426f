"""Where a guest listens and a host connects: ``unix:PATH``, ``tcp:HOST:PORT``, ``vsock:CID:PORT``.

``parse_address`` turns the text of ``--listen``/``--connect`` into a frozen value (or raises
``AddressError`` naming what is wrong); ``connect_address`` and ``listen_address`` open anyio
byte streams and listeners for it. IPv6 hosts are bracketed (``tcp:[::1]:7000``). vsock (a VM's
socket to its host) goes through the standard ``socket`` module, which anyio wraps.

Security rules applied here (issue 6): a Unix socket is created with mode 0600 (the umask is
tightened while it is bound, so it is never reachable more widely, even for an instant); whether a
TCP address is loopback is decided by ``is_loopback`` (the guest refuses a non-loopback address
without a token).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import stat
from dataclasses import dataclass
from typing import TypeAlias

import anyio
from anyio.abc import ByteStream, SocketListener, SocketStream

__all__ = [
    "Address",
    "AddressError",
    "TcpAddress",
    "UnixAddress",
    "VsockAddress",
    "connect_address",
    "connect_socket",
    "is_loopback",
    "listen_address",
    "parse_address",
    "tune_socket",
    "tune_stream",
]

VMADDR_CID_ANY = 0xFFFF_FFFF
_MAX_PORT = 0xFFFF
_MAX_VSOCK = 0xFFFF_FFFF


class AddressError(ValueError):
    """An address text that cannot be used. ``text`` is what was given."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid address {text!r}: {reason}")
        self.text = text
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UnixAddress:
    """A Unix domain socket at ``path``."""

    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@dataclass(frozen=True, slots=True)
class TcpAddress:
    """A TCP endpoint; ``host`` is a name or an IPv4/IPv6 literal (without brackets)."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class VsockAddress:
    """A vsock endpoint: context id (2 = host, 1 = local loopback, -1/any for listening) and
    port."""

    cid: int
    port: int

    def __str__(self) -> str:
        return f"vsock:{self.cid}:{self.port}"


Address: TypeAlias = UnixAddress | TcpAddress | VsockAddress


def parse_address(text: str) -> Address:
    """Parse ``unix:PATH``, ``tcp:HOST:PORT`` (``tcp:[::1]:PORT``) or ``vsock:CID:PORT``.

    Raises:
        AddressError: an unknown scheme, an empty path, a bad host, port or CID.
    """
    scheme, separator, rest = text.partition(":")
    if not separator:
        raise AddressError(text, "expected unix:PATH, tcp:HOST:PORT or vsock:CID:PORT")
    match scheme:
        case "unix":
            if not rest or "\0" in rest:
                raise AddressError(text, "a Unix socket needs a path (without NUL bytes)")
            return UnixAddress(rest)
        case "tcp":
            host, port = _host_and_port(text, rest)
            return TcpAddress(host, _number(text, port, "port", _MAX_PORT))
        case "vsock":
            cid, _, port = rest.rpartition(":")
            cid_value = VMADDR_CID_ANY if cid in ("-1", "any") else _number(text, cid, "CID")
            return VsockAddress(cid_value, _number(text, port, "port", _MAX_VSOCK))
        case _:
            raise AddressError(text, f"unknown scheme {scheme!r} (unix, tcp or vsock)")


def _host_and_port(text: str, rest: str) -> tuple[str, str]:
    if rest.startswith("["):
        host, bracket, port = rest[1:].partition("]")
        if not bracket or not port.startswith(":"):
            raise AddressError(text, "an IPv6 host is written [HOST]:PORT")
        _check_ipv6(text, host)
        return host, port[1:]
    host, _, port = rest.rpartition(":")
    if not host or ":" in host:
        raise AddressError(text, "expected HOST:PORT (bracket IPv6 hosts: [::1]:PORT)")
    return host, port


def _check_ipv6(text: str, host: str) -> None:
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        raise AddressError(text, f"{host!r} is not an IPv6 address") from None


def _number(text: str, value: str, what: str, maximum: int = _MAX_VSOCK) -> int:
    if not value.isdigit():
        raise AddressError(text, f"the {what} must be a decimal number, not {value!r}")
    number = int(value)
    if not 0 <= number <= maximum:
        raise AddressError(text, f"the {what} {number} is outside 0..{maximum}")
    return number


def is_loopback(address: Address) -> bool:
    """Whether only this machine can reach ``address``: Unix sockets, and TCP on
    ``localhost``/127.0.0.0/8/``::1``. vsock is not loopback (a VM's host can reach it)."""
    match address:
        case UnixAddress():
            return True
        case TcpAddress(host=host):
            if host == "localhost":
                return True
            try:
                return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
            except ValueError:
                return False
        case VsockAddress():
            return False


async def connect_address(address: Address) -> ByteStream:
    """Open a byte stream to ``address``.

    Raises:
        OSError: the connection was refused, the path does not exist, no vsock here...
    """
    match address:
        case UnixAddress(path=path):
            stream: ByteStream = await anyio.connect_unix(path)
        case TcpAddress(host=host, port=port):
            stream = await anyio.connect_tcp(host, port)
        case VsockAddress(cid=cid, port=port):
            stream = await _connect_vsock(cid, port)
    tune_stream(stream)
    return stream


async def listen_address(address: Address) -> SocketListener:
    """Listen on ``address`` (one socket, so ``accept`` is available).

    A Unix socket gets mode 0600. A socket file already there is replaced only if it is stale
    (nothing answers on it): where a live guest listens, this fails rather than taking its
    address. Any other kind of file there is never touched.

    Raises:
        OSError: the address is in use (EADDRINUSE, naming what holds it) or cannot be bound.
    """
    match address:
        case UnixAddress(path=path):
            return await _listen_unix(path)
        case TcpAddress(host=host, port=port):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return await _listen_socket(family, (host, port), reuse=True)
        case VsockAddress(cid=cid, port=port):
            return await _listen_socket(_vsock_family(), (cid, port), reuse=False)


def _refuse_if_live(path: str) -> None:
    """Remove a stale socket file at ``path``; raise if something listens there.

    Stale means the kernel refused a connection (ECONNREFUSED: no listener). Anything else (it
    accepted, its backlog is full, it timed out) counts as live: a busy guest keeps its address.
    """
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return  # not a socket: binding fails with EADDRINUSE, the file is left alone
    except FileNotFoundError:
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_PROBE_SECONDS)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: left by a guest that died
        return
    except OSError:
        pass  # someone holds it, too busy to accept now
    finally:
        probe.close()
    raise OSError(
        errno.EADDRINUSE,
        f"a live server (another sa3p serve?) already listens at {path}; stop it or choose "
        "another path",
    )


async def _listen_unix(path: str) -> SocketListener:
    _refuse_if_live(path)
    previous = os.umask(0o177)  # the socket file is born 0600: no window where others reach it
    try:
        listener = await anyio.create_unix_listener(path)
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    return listener


async def _listen_socket(
    family: int, target: tuple[str | int, int], *, reuse: bool
) -> SocketListener:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(target)
        sock.listen(128)
        sock.setblocking(False)
        return await SocketListener.from_socket(sock)
    except BaseException:
        sock.close()
        raise


def _vsock_family() -> int:
    family = getattr(socket, "AF_VSOCK", None)
    if family is None:
        raise OSError("this system has no vsock support (AF_VSOCK)")
    return int(family)


async def _connect_vsock(cid: int, port: int) -> SocketStream:
    sock = socket.socket(_vsock_family(), socket.SOCK_STREAM)
    try:
        # vsock connects are local to the hypervisor and complete at once; run it off the loop
        # anyway so a misbehaving transport cannot stall other tasks.
        await anyio.to_thread.run_sync(sock.connect, (cid, port))
        return await SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


SOCKET_BUFFER = 2 * 1024 * 1024
_PROBE_SECONDS = 2.0


def tune_stream(stream: ByteStream) -> None:
    """``tune_socket`` on the socket under an anyio stream (if it has one)."""
    raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    if raw is not None:
        tune_socket(raw)


def tune_socket(raw: socket.socket) -> None:
    """Best-effort socket options for a protocol connection (either end): no Nagle delay on
    TCP (small requests must not wait 40 ms), and 2 MiB kernel buffers each way, so a 1 MiB
    frame crosses in one or two wake-ups instead of five (the default is about 200 KiB)."""
    for level, option, value in (
        (socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER),
        (socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER),
    ):
        with contextlib.suppress(OSError):
            raw.setsockopt(level, option, value)
    if raw.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect_socket(address: Address) -> socket.socket:
    """Open a blocking, tuned socket to ``address`` (for the synchronous client driver).

    Raises:
        OSError: the connection was refused, the path does not exist, no vsock here...
    """
    match address:
        case UnixAddress(path=path):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[int, int] = path
        case TcpAddress(host=host, port=port):
            sock = socket.create_connection((host, port))
            tune_socket(sock)
            return sock
        case VsockAddress(cid=cid, port=port):
            sock = socket.socket(_vsock_family(), socket.SOCK_STREAM)
            target = (cid, port)
    try:
        sock.connect(target)
    except BaseException:
        sock.close()
        raise
    tune_socket(sock)
    return sock
