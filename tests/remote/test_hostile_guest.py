"""The client treats the guest as hostile: a reply is bounded by what was asked and by the
client's cap, or the connection ends with a clear error; the client's memory stays bounded."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest

from sa3p_engine import ErrorCode as EngineCode
from sa3p_engine import FileSystemError
from sa3p_host import (
    RemoteConnectionError,
    RemoteOperationError,
    connect,
    open_remote_backends,
)
from sa3p_host._channel import Channel
from sa3p_host._links import AsyncLink
from sa3p_host._stream_routines import send_bytes
from sa3p_host._transport import UnixAddress, listen_address
from sa3p_protocol import Connection, Message, Role
from sa3p_protocol.messages import CwdReply, CwdRequest, ReadData, TreeEntry, TreeReply

from .helpers import short_socket_path

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024

Answer = Callable[[AsyncLink, int, Message], object]


async def _flood_read(link: AsyncLink, stream_id: int, message: Message) -> None:
    """Answers a read with 64 MiB, whatever length was asked."""
    chunk = b"z" * MIB
    for _ in range(64):
        await link.run_steps(send_bytes(link.channel, stream_id, chunk, ReadData))
    link.channel.end(stream_id)


async def _endless_tree(link: AsyncLink, stream_id: int, message: Message) -> None:
    """Answers a listing with entries until stopped."""
    batch = tuple(TreeEntry(path=f"f{index:07}", is_directory=False) for index in range(2000))
    while True:
        await link.send(stream_id, TreeReply(batch))


async def _quietly(answer: Answer, link: AsyncLink, stream_id: int, message: Message) -> None:
    with contextlib.suppress(RemoteConnectionError, RemoteOperationError):
        await answer(link, stream_id, message)  # type: ignore[misc]


@asynccontextmanager
async def hostile_guest(answer: Answer) -> AsyncIterator[str]:
    """A guest that completes the handshake and answers CWD honestly, then ``answer``s."""
    path = short_socket_path()
    listener = await listen_address(UnixAddress(path))

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with anyio.create_task_group() as tasks:

            def accept(stream_id: int, message: Message) -> None:
                if isinstance(message, CwdRequest):
                    link.channel.send(stream_id, CwdReply("/hostile"), end_stream=True)
                    return
                tasks.start_soon(_quietly, answer, link, stream_id, message)

            link = AsyncLink(stream, Channel(Connection(Role.SERVER), accept=accept))
            await link.run()
            tasks.cancel_scope.cancel()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, serve)
        yield f"unix:{path}"
        tasks.cancel_scope.cancel()


async def test_a_read_answered_with_more_than_asked_ends_the_connection() -> None:
    async with hostile_guest(_flood_read) as address, connect(address) as client:
        tracemalloc.start()
        with pytest.raises(RemoteConnectionError, match="more than the 100 reply bytes"):
            await client.read("a.txt", 0, 100)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 24 * MIB  # the receive windows (16 MiB), not the 64 MiB sent
        assert client.connection_error is not None


async def test_an_endless_listing_stops_at_the_client_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sa3p_host import _stream_routines

    monkeypatch.setattr(_stream_routines, "DEFAULT_REPLY_CAP", 4 * MIB)
    async with hostile_guest(_endless_tree) as address, connect(address) as client:
        with anyio.fail_after(30), pytest.raises(RemoteConnectionError, match="reply bytes"):
            await client.list_tree(".")


def test_the_blocking_client_reports_it_to_the_engine_as_a_lost_connection() -> None:
    async def scenario() -> FileSystemError:
        async with hostile_guest(_flood_read) as address:

            def blocking() -> FileSystemError:
                with open_remote_backends(address) as (vfs, _terminal):
                    with pytest.raises(FileSystemError) as caught:
                        vfs.read("a.txt", 0, 1000)
                    return caught.value

            return await anyio.to_thread.run_sync(blocking)

    error = anyio.run(scenario)
    assert error.code is EngineCode.CONNECTION_LOST
    assert "more than the 1000 reply bytes" in error.message
