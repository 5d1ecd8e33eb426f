"""The two client drivers (PROTOCOL.md §8) and the guest's inline answers (§7.2).

The synchronous ``BlockingClient`` shared by several threads, the portal path through the async
core, reads on both sides of the inline bound, a FIFO that must not stall the guest's loop, and
the blocking connect's socket options.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import threading
from collections.abc import Iterator

import anyio
import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sa3p_engine import ErrorCode as EngineCode
from sa3p_engine import FileSystemError
from sa3p_host._guest._guest_requests import INLINE_READ_LIMIT
from sa3p_host._remote import (
    BlockingClient,
    BlockingFileWriter,
    RemoteConnectionError,
    RemoteTerminal,
    RemoteVfs,
    connect,
    open_remote_backends,
)
from sa3p_host._remote import _blocking as blocking
from sa3p_host._remote._exchange import stat
from sa3p_host._transport import TcpAddress, connect_socket

from .helpers import RunningGuest, running_guest, short_socket_path

THREADS = 6
ROUNDS = 30


def _thread_work(vfs: RemoteVfs, number: int, failures: list[BaseException]) -> None:
    try:
        for round_ in range(ROUNDS):
            content = f"thread {number} round {round_}\n".encode() * (1 + round_ % 5)
            writer = vfs.open_writer(f"t{number}/f.txt")
            writer.write(content)
            receipt = writer.commit()
            assert receipt.sha256 == hashlib.sha256(content).hexdigest()
            assert vfs.read(f"t{number}/f.txt") == content
            assert vfs.stat(f"t{number}/f.txt").size == len(content)
    except BaseException as error:  # reported by the test
        failures.append(error)


def test_one_blocking_client_shared_by_several_threads(any_guest: RunningGuest) -> None:
    failures: list[BaseException] = []
    with open_remote_backends(any_guest.address) as (vfs, _terminal):
        threads = [
            threading.Thread(target=_thread_work, args=(vfs, number, failures))
            for number in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_a_big_write_and_big_reads_at_once_from_two_threads(unix_guest: RunningGuest) -> None:
    # The sender sends with the lock released while another thread reads: neither blocks the
    # other (the reads' replies exceed the socket buffers, the write exceeds the window).
    big = os.urandom(3 * 1024 * 1024)
    (unix_guest.workspace / "source.bin").write_bytes(big)
    failures: list[BaseException] = []
    with open_remote_backends(unix_guest.address) as (vfs, _terminal):

        def reads() -> None:
            try:
                for _ in range(4):
                    assert vfs.read("source.bin") == big
            except BaseException as error:
                failures.append(error)

        reader = threading.Thread(target=reads)
        reader.start()
        writer = vfs.open_writer("copy.bin")
        for _ in range(12):
            writer.write(big)
        writer.commit()
        reader.join(timeout=60)
        assert not reader.is_alive()
    assert failures == []
    assert (unix_guest.workspace / "copy.bin").stat().st_size == 12 * len(big)


async def _through_portal(address: str) -> tuple[bytes, int | None]:
    async with connect(address) as client, BlockingPortal() as portal:
        vfs, terminal = RemoteVfs(client, portal), RemoteTerminal(client, portal)

        def turn() -> tuple[bytes, int | None]:
            writer = vfs.open_writer("portal.txt")
            writer.write(b"through the portal")
            writer.commit()
            result = terminal.run("cat portal.txt", timeout=10)
            return vfs.read("portal.txt"), result.exit_code

        outcome: tuple[bytes, int | None] = await anyio.to_thread.run_sync(turn)
    return outcome  # returned after the portal and the connection are closed


def test_the_portal_driver_serves_async_programs(unix_guest: RunningGuest) -> None:
    data, exit_code = anyio.run(_through_portal, unix_guest.address)
    assert data == b"through the portal" and exit_code == 0


def test_a_remote_client_needs_a_portal(unix_guest: RunningGuest) -> None:
    async def build() -> None:
        async with connect(unix_guest.address) as client:
            RemoteVfs(client)
        raise AssertionError("not reached")  # pragma: no cover

    with pytest.raises(TypeError, match="BlockingPortal"):
        anyio.run(build)


@pytest.mark.parametrize(
    ("size", "offset", "length"),
    [
        (INLINE_READ_LIMIT, 0, None),
        (INLINE_READ_LIMIT + 1, 0, None),
        (INLINE_READ_LIMIT + 1, 1, None),
        (5 * INLINE_READ_LIMIT, 10, INLINE_READ_LIMIT),
        (5 * INLINE_READ_LIMIT, 10, INLINE_READ_LIMIT + 7),
        (100, 200, None),
        (100, 0, 0),
    ],
)
def test_reads_on_both_sides_of_the_inline_bound(
    unix_guest: RunningGuest, size: int, offset: int, length: int | None
) -> None:
    data = os.urandom(size)
    (unix_guest.workspace / "r.bin").write_bytes(data)
    end = None if length is None else offset + length
    with open_remote_backends(unix_guest.address) as (vfs, _terminal):
        assert vfs.read("r.bin", offset, length) == data[offset:end]


def test_inline_answers_report_errors_with_the_path(unix_guest: RunningGuest) -> None:
    (unix_guest.workspace / "d").mkdir()
    with open_remote_backends(unix_guest.address) as (vfs, _terminal):
        for call in (lambda: vfs.stat("missing.txt"), lambda: vfs.read("missing.txt")):
            with pytest.raises(FileSystemError) as caught:
                call()
            assert caught.value.code is EngineCode.NOT_FOUND
            assert caught.value.path == "missing.txt"
        with pytest.raises(FileSystemError) as caught:
            vfs.read("d")
        assert caught.value.code is EngineCode.IS_A_DIRECTORY
        with pytest.raises(FileSystemError):
            vfs.read("../outside")


def test_a_fifo_read_does_not_stall_the_guest(unix_guest: RunningGuest) -> None:
    fifo = unix_guest.workspace / "pipe"
    os.mkfifo(fifo)
    result: list[bytes] = []
    with (
        open_remote_backends(unix_guest.address) as (blocked, _t1),
        open_remote_backends(unix_guest.address) as (other, _t2),
    ):
        reader = threading.Thread(target=lambda: result.append(blocked.read("pipe")))
        reader.start()
        for _ in range(20):  # the loop still answers while the FIFO's open waits in a thread
            assert other.stat("pipe").size == 0
        with open(fifo, "wb"):  # releases the waiting open (LocalVfs then reads st_size: 0)
            pass
        reader.join(timeout=30)
        assert not reader.is_alive()
    assert result == [b""]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=3 * 1024 * 1024),
    cuts=st.lists(st.integers(min_value=0, max_value=3 * 1024 * 1024), max_size=6),
)
def test_blocking_writes_ignore_chunk_boundaries(
    shared_guest: RunningGuest, body: bytes, cuts: list[int]
) -> None:
    points = sorted({0, len(body), *(cut for cut in cuts if cut < len(body))})
    with open_remote_backends(shared_guest.address) as (vfs, _terminal):
        writer = vfs.open_writer("cut.bin")
        assert isinstance(writer, BlockingFileWriter)
        for start, end in itertools.pairwise(points):
            writer.write(body[start:end])
        receipt = writer.commit()
    assert receipt.sha256 == hashlib.sha256(body).hexdigest()
    assert (shared_guest.workspace / "cut.bin").read_bytes() == body


def test_call_runs_an_exchange_and_a_closed_client_says_so(unix_guest: RunningGuest) -> None:
    (unix_guest.workspace / "x.txt").write_bytes(b"12345")
    with open_remote_backends(unix_guest.address) as (vfs, _terminal):
        client = vfs._driver  # the BlockingClient open_remote_backends made
        assert isinstance(client, BlockingClient)
        assert client.call(stat("x.txt")).size == 5
    with pytest.raises(FileSystemError) as caught:
        vfs.stat("x.txt")
    assert caught.value.code is EngineCode.CONNECTION_LOST


def test_the_blocking_connect_tunes_tcp(tcp_guest: RunningGuest) -> None:
    host, port = tcp_guest.address[4:].rsplit(":", 1)
    sock = connect_socket(TcpAddress(host, int(port)))
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


@pytest.fixture(scope="module")
def shared_guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGuest]:
    workspace = tmp_path_factory.mktemp("shared") / "ws"
    workspace.mkdir()
    with running_guest(f"unix:{short_socket_path()}", workspace) as guest:
        yield guest


def test_a_peer_that_never_answers_is_an_error_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blocking, "HANDSHAKE_SECONDS", 0.3)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        with (
            pytest.raises(RemoteConnectionError, match="refused the connection"),
            open_remote_backends(f"tcp:127.0.0.1:{port}"),
        ):
            pass  # pragma: no cover
