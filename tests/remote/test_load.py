"""64 concurrent clients x 200 operations on loopback: bounded, nothing lost or crossed."""

from __future__ import annotations

import hashlib

import anyio
import pytest

from sa3p_host import RemoteClient, connect

from .helpers import RunningGuest

pytestmark = pytest.mark.anyio

CLIENTS = 64
OPERATIONS = 200


async def _client_work(address: str, number: int, done: list[int]) -> None:
    async with connect(address) as client:
        for round_ in range(OPERATIONS // 4):
            await _one_round(client, number, round_)
        done.append(number)


async def _one_round(client: RemoteClient, number: int, round_: int) -> None:
    path = f"clients/{number}/file.txt"
    content = f"client {number} round {round_}\n".encode() * (1 + round_ % 7)
    writer = await client.open_writer(path)
    await writer.write(content)
    receipt = await writer.commit()
    assert receipt.sha256 == hashlib.sha256(content).hexdigest()
    assert await client.read(path) == content
    assert await client.hash(path) == receipt.sha256
    assert (await client.stat(path)).size == len(content)


async def test_many_clients_many_operations(any_guest: RunningGuest) -> None:
    # No directory exists beforehand: 64 writers create "clients/" at once (the parent race).
    done: list[int] = []
    with anyio.fail_after(120):
        async with anyio.create_task_group() as tasks:
            for number in range(CLIENTS):
                tasks.start_soon(_client_work, any_guest.address, number, done)
    assert sorted(done) == list(range(CLIENTS))
    for number in range(CLIENTS):
        last = f"client {number} round {OPERATIONS // 4 - 1}\n".encode()
        written = (any_guest.workspace / "clients" / str(number) / "file.txt").read_bytes()
        assert written == last * (1 + (OPERATIONS // 4 - 1) % 7)
