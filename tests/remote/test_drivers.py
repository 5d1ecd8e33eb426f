"""The two drivers of one client (PROTOCOL.md §8) and the guest's inline answers (§7.2).

The blocking driver shared by several threads, the async client under an ``AsyncEngine``, reads
on both sides of the inline bound, a FIFO that must not stall the guest's loop, and the blocking
connect's socket options.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Iterator

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sa3p_engine import AsyncEngine, Engine, FileSystemError
from sa3p_engine import ErrorCode as EngineCode
from sa3p_host import RemoteVfs, connect, open_remote_backends
from sa3p_host._guest._guest_requests import INLINE_READ_LIMIT
from sa3p_host._remote import RemoteFileWriter
from sa3p_host._transport import TcpAddress, connect_socket
from sa3p_parser import InstructionParser

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


TURN = (
    b'<write_file path="t.txt">one turn, two drivers\n</write_file>'
    b"<terminal>cat t.txt</terminal>"
    b'<read_file path="t.txt"/>'
)


def _instructions() -> list[object]:
    parser = InstructionParser()
    return [*parser.feed(TURN), *parser.finish()]


def _comparable(text: str) -> str:
    """An output without what differs between two runs: durations, created vs replaced."""
    return re.sub(r", \d+\.\d+s,", ",", text).replace("created", "replaced")


async def _async_turn(address: str) -> list[str]:
    async with connect(address) as client, AsyncEngine(client, client) as engine:
        turn = await engine.execute_turn(_instructions())  # type: ignore[arg-type]
    return [_comparable(out.render()) for out in turn.outputs]


def test_the_async_client_and_the_blocking_one_give_the_same_turn(
    unix_guest: RunningGuest,
) -> None:
    with open_remote_backends(unix_guest.address) as pair, Engine(*pair) as engine:
        turn = engine.execute_turn(_instructions())  # type: ignore[arg-type]
    blocking = [_comparable(out.render()) for out in turn.outputs]
    assert all("FAILED" not in text for text in blocking), blocking
    assert anyio.run(_async_turn, unix_guest.address) == blocking


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


def test_a_fifo_is_refused_at_once_and_never_stalls_the_guest(unix_guest: RunningGuest) -> None:
    os.mkfifo(unix_guest.workspace / "pipe")
    with open_remote_backends(unix_guest.address) as (vfs, _terminal):
        for action in (vfs.read, vfs.stat, vfs.hash):
            started = time.monotonic()
            with pytest.raises(FileSystemError) as caught:
                action("pipe")
            assert time.monotonic() - started < 1.0
            assert caught.value.code is EngineCode.INVALID_PATH
            assert caught.value.message == "pipe is a FIFO, not a regular file"


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
        assert isinstance(writer, RemoteFileWriter)
        for start, end in itertools.pairwise(points):
            writer.write(body[start:end])
        receipt = writer.commit()
    assert receipt.sha256 == hashlib.sha256(body).hexdigest()
    assert (shared_guest.workspace / "cut.bin").read_bytes() == body


def test_a_closed_connection_says_so(unix_guest: RunningGuest) -> None:
    (unix_guest.workspace / "x.txt").write_bytes(b"12345")
    with open_remote_backends(unix_guest.address) as (vfs, _terminal):
        assert isinstance(vfs, RemoteVfs)
        assert vfs.stat("x.txt").size == 5
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
