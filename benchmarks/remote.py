"""Benchmarks of the remote backends against a real guest process (``python -m sa3p_host._guest``).

Each figure is measured against its baseline in the same run:

- a 256 MiB ``write_file`` through ``RemoteVfs`` (the synchronous ``BlockingClient`` driver) to
  the guest over a Unix socket (1 MiB ``write`` calls, then ``commit``: the client hashes once
  while sending, the guest's ``LocalFileWriter`` hashes once while writing, then checks the
  client's digest, fsyncs and renames) against a
  plain socket copy of the same bytes into a file on the same disk by a receiver process that
  also fsyncs (``sendall`` → ``recv_into`` → ``write`` → ``fsync``);
- a small ``read_file`` round trip (``RemoteVfs.read`` of a 100-byte file, from sync code)
  against the round trip of 64 bytes through a bare anyio echo server process (no sa3p code):
  the floor of any guest on a Python event loop;
- 64 concurrent clients doing ``stat``s: aggregate operations per second against one client
  alone;
- guest memory under a slow reader: a process writing 2 GB to a client that reads nothing for
  two seconds; the guest's resident memory growth (absolute goal: 32 MiB);
- guest memory after 1,000 unauthenticated connections, each announcing a 1 MiB frame and
  sending 2 KiB of it, have come and gone (in rounds of 250) and a good client is served again:
  its resident memory against before (goal: ratio <= 1.2).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import anyio
import psutil

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_host import RemoteConnectionError, connect, open_remote_backends
from sa3p_protocol import (
    Connection,
    HandshakeCompleted,
    MessageReceived,
    Role,
    StreamEnded,
)
from sa3p_protocol.messages import ReadRequest, SpawnRequest

GROUP = "remote"
MIB = 1 << 20

_COPY_RECEIVER = textwrap.dedent(
    """
    import os, socket, sys
    server = socket.socket(socket.AF_UNIX)
    server.bind(sys.argv[1]); server.listen(1)
    print("ready", flush=True)
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    while True:
        connection, _ = server.accept()
        fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        while n := connection.recv_into(buffer):
            os.write(fd, view[:n])
        os.fsync(fd); os.close(fd)
        connection.sendall(b"k"); connection.close()
    """
)


_ANYIO_ECHO = textwrap.dedent(
    """
    import anyio, sys
    async def echo(stream):
        while True:
            await stream.send(await stream.receive())
    async def main():
        listener = await anyio.create_unix_listener(sys.argv[1])
        print("ready", flush=True)
        await listener.serve(echo)
    anyio.run(main)
    """
)


# The least a guest on a Python event loop that speaks the protocol does per request: an anyio
# server with one Sans-IO Connection per peer, answering each READ with 100 bytes from memory
# (no dispatch, no file, no workspace).
_PROTOCOL_ECHO = textwrap.dedent(
    """
    import anyio, sys
    from sa3p_protocol import Connection, RequestReceived, Role
    from sa3p_protocol.messages import ReadData
    async def serve(stream):
        connection, data = Connection(Role.SERVER), ReadData(b"x" * 100)
        while True:
            for event in connection.receive_data(await stream.receive()):
                if isinstance(event, RequestReceived):
                    connection.acknowledge(event.stream_id, event.flow_length)
                    connection.send(event.stream_id, data, end_stream=True)
            await stream.send(connection.data_to_send())
    async def main():
        listener = await anyio.create_unix_listener(sys.argv[1])
        print("ready", flush=True)
        await listener.serve(serve)
    anyio.run(main)
    """
)


def _protocol_client(path: str) -> tuple[socket.socket, Connection]:
    """A blocking socket and a client Connection past the handshake with ``_PROTOCOL_ECHO``."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    connection = Connection(Role.CLIENT)
    while not any(
        isinstance(event, HandshakeCompleted)
        for event in connection.receive_data(_exchange(sock, connection))
    ):
        pass
    sock.sendall(connection.data_to_send())
    return sock, connection


def _exchange(sock: socket.socket, connection: Connection) -> bytes:
    sock.sendall(connection.data_to_send())
    return sock.recv(65536)


def _protocol_round_trips(sock: socket.socket, connection: Connection, count: int) -> None:
    for _ in range(count):
        stream_id = connection.open_stream(ReadRequest("small.txt", 0, None), end_stream=True)
        ended = False
        while not ended:
            for event in connection.receive_data(_exchange(sock, connection)):
                if isinstance(event, MessageReceived):
                    connection.acknowledge(stream_id, event.flow_length)
                ended = ended or isinstance(event, StreamEnded)


@contextlib.contextmanager
def _process(
    command: list[str], ready_path: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        if ready_path is None:
            assert process.stdout is not None
            process.stdout.readline()
        else:
            deadline = time.monotonic() + 20
            while not os.path.exists(ready_path) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


@contextlib.contextmanager
def _guest(workspace: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    path = os.path.join(tempfile.mkdtemp(prefix="sa3p-bench-", dir="/tmp"), "g.sock")
    command = [sys.executable, "-m", "sa3p_host._guest", "--listen", f"unix:{path}"]
    with _process([*command, "--workspace", str(workspace)], ready_path=path) as process:
        yield f"unix:{path}", process


@case(GROUP)
def write_256_mib(quick: bool) -> Iterable[Measurement]:
    size = (32 if quick else 256) * MIB
    chunk = os.urandom(MIB)
    chunks = [chunk] * (size // MIB)
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as top:
        workspace = Path(top, "ws")
        workspace.mkdir()
        receiver_socket = os.path.join(tempfile.mkdtemp(prefix="sa3p-copy-", dir="/tmp"), "c")
        copy_target = os.path.join(top, "copy.bin")
        receiver = [sys.executable, "-c", _COPY_RECEIVER, receiver_socket, copy_target]
        with (
            _guest(workspace) as (address, _),
            _process(receiver),
            open_remote_backends(address) as (vfs, _terminal),
        ):

            def through_guest() -> None:
                writer = vfs.open_writer("big.bin")
                for piece in chunks:
                    writer.write(piece)
                writer.commit()

            def plain_copy() -> None:
                with socket.socket(socket.AF_UNIX) as sender:
                    sender.connect(receiver_socket)
                    for piece in chunks:
                        sender.sendall(piece)
                    sender.shutdown(socket.SHUT_WR)
                    sender.recv(1)

            subject, baseline = paired_best(through_guest, plain_copy, repeat=2 if quick else 3)
        assert (workspace / "big.bin").stat().st_size == size
    yield measurement(
        group=GROUP,
        case=f"write_file {size // MIB} MiB via guest (unix)",
        unit="MB/s",
        subject=size / subject / 1e6,
        baseline_name="plain socket copy to file + fsync",
        baseline=size / baseline / 1e6,
        goal="ratio>=",
        target=0.5,
    )


@case(GROUP)
def small_read_round_trip(quick: bool) -> Iterable[Measurement]:
    """A 100-byte read through the blocking client against the guest, and the floors under it:
    the same machine's round trip through a bare anyio echo server process (no sa3p code), and
    through the least guest that speaks the protocol (``_PROTOCOL_ECHO``)."""
    count = 300 if quick else 2000
    repeat = 3 if quick else 7
    with tempfile.TemporaryDirectory() as top:
        workspace = Path(top, "ws")
        workspace.mkdir()
        (workspace / "small.txt").write_bytes(b"x" * 100)
        echo_socket, protocol_socket = os.path.join(top, "e"), os.path.join(top, "p")
        with (
            _guest(workspace) as (address, _),
            _process([sys.executable, "-c", _ANYIO_ECHO, echo_socket]),
            _process([sys.executable, "-c", _PROTOCOL_ECHO, protocol_socket]),
            open_remote_backends(address) as (vfs, _terminal),
            socket.socket(socket.AF_UNIX) as echo,
        ):
            echo.connect(echo_socket)
            sock, connection = _protocol_client(protocol_socket)

            def reads() -> None:
                for _ in range(count):
                    vfs.read("small.txt")

            def echoes() -> None:
                _echo_round_trip(echo, count)

            subject, baseline = paired_best(reads, echoes, repeat=repeat)
            floor, floor_baseline = paired_best(
                lambda: _protocol_round_trips(sock, connection, count), echoes, repeat=repeat
            )
            sock.close()
    for name, seconds, base in [
        ("read_file 100 B round trip (sync RemoteVfs, guest on a Unix socket)", subject, baseline),
        (
            "floor: the least protocol-speaking guest (anyio server, one Connection, READ "
            "answered from memory) and a blocking client with one Connection",
            floor,
            floor_baseline,
        ),
    ]:
        yield measurement(
            group=GROUP,
            case=name,
            unit="us",
            subject=seconds / count * 1e6,
            baseline_name="bare anyio stream echo server round trip (64 B)",
            baseline=base / count * 1e6,
            goal="ratio<=",
            target=2.0,
        )


def _echo_round_trip(sock: socket.socket, count: int) -> None:
    message = b"m" * 64
    for _ in range(count):
        sock.sendall(message)
        sock.recv(65536)


async def _stats(address: str, clients: int, operations: int) -> float:
    async def one(client_number: int) -> None:
        async with connect(address) as client:
            for _ in range(operations):
                await client.stat("small.txt")

    start = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for number in range(clients):
            tasks.start_soon(one, number)
    return time.perf_counter() - start


@case(GROUP)
def concurrent_clients(quick: bool) -> Iterable[Measurement]:
    clients, operations = 64, (20 if quick else 100)
    with tempfile.TemporaryDirectory() as top:
        workspace = Path(top, "ws")
        workspace.mkdir()
        (workspace / "small.txt").write_bytes(b"x" * 100)
        with _guest(workspace) as (address, guest):
            many = anyio.run(_stats, address, clients, operations)
            alone = anyio.run(_stats, address, 1, clients * operations // 4)
            rss = psutil.Process(guest.pid).memory_info().rss / MIB
    yield measurement(
        group=GROUP,
        case=f"{clients} clients x {operations} stat, aggregate (guest RSS {rss:.0f} MiB)",
        unit="ops/s",
        subject=clients * operations / many,
        baseline_name="1 client alone",
        baseline=clients * operations // 4 / alone,
        goal="ratio>=",
        target=1.0,
    )


async def _slow_reader(address: str, guest_pid: int) -> tuple[float, float]:
    guest = psutil.Process(guest_pid)
    async with connect(address) as client:
        before = guest.memory_info().rss / MIB
        process = await client.spawn(SpawnRequest(command="head -c 2000000000 /dev/zero"))
        await anyio.sleep(2.0)  # read nothing
        after = guest.memory_info().rss / MIB
        await process.signal(9)
    return before, after


@case(GROUP)
def slow_reader_memory(quick: bool) -> Iterable[Measurement]:
    with tempfile.TemporaryDirectory() as top:
        workspace = Path(top, "ws")
        workspace.mkdir()
        with _guest(workspace) as (address, guest):
            before, after = anyio.run(_slow_reader, address, guest.pid)
    yield measurement(
        group=GROUP,
        case="guest RSS growth, process writing 2 GB to a client reading nothing (2 s)",
        unit="MiB",
        subject=max(after - before, 0.0),
        baseline_name="guest RSS before",
        baseline=before,
        goal="subject<=",
        target=32.0,
    )


def _served(address: str) -> bool:
    try:
        with open_remote_backends(address) as (vfs, _terminal):
            vfs.stat(".")
    except RemoteConnectionError:  # not admitted yet: the guest is still busy with the others
        return False
    return True


@case(GROUP)
def unauthenticated_peers_memory(quick: bool) -> Iterable[Measurement]:
    rounds = 2 if quick else 4
    # A HELLO frame header announcing a 1 MiB payload, and the first 2 KiB of it.
    greeting = b"SA3P\0\0\0\0\x70\0\x10\0\0" + b"x" * 2048
    with tempfile.TemporaryDirectory() as top:
        workspace = Path(top, "ws")
        workspace.mkdir()
        with _guest(workspace) as (address, guest_process):
            guest = psutil.Process(guest_process.pid)
            assert _served(address)
            before = guest.memory_info().rss / MIB
            for _ in range(rounds):
                peers = []
                for _ in range(250):
                    peer = socket.socket(socket.AF_UNIX)
                    peer.setblocking(False)
                    with contextlib.suppress(OSError):
                        peer.connect(address.removeprefix("unix:"))
                        peer.send(greeting)
                    peers.append(peer)
                for peer in peers:
                    peer.close()
            deadline = time.monotonic() + 30
            while not _served(address):
                assert time.monotonic() < deadline, "the guest serves no one after the peers"
            after = guest.memory_info().rss / MIB
    yield measurement(
        group=GROUP,
        case=f"guest RSS after {rounds * 250} unauthenticated connections came and went",
        unit="MiB",
        subject=after,
        baseline_name="guest RSS before them",
        baseline=before,
        goal="ratio<=",
        target=1.2,
    )


def _cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
