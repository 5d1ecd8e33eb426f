"""Streaming writes: atomic commit, size/SHA-256 checks, aborts, errors mid-stream."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

import anyio
import pytest

from sa3p_engine import Engine, FileSystemError, WriteReceipt
from sa3p_engine import ErrorCode as EngineCode
from sa3p_host import LocalVfs, RemoteClient, RemoteOperationError, connect, open_remote_backends
from sa3p_host._guest._guest_writes import _Body
from sa3p_host._local._atomic_writes import WriteMismatchError
from sa3p_host._stream_routines import WriteStream, until
from sa3p_parser import InstructionParser
from sa3p_protocol import Message
from sa3p_protocol import WireErrorCode as ErrorCode
from sa3p_protocol.messages import ErrorReply, WriteChunkData, WriteCommit, WriteOpenRequest

from ..waiting import wait_until
from .helpers import RunningGuest

pytestmark = pytest.mark.anyio


async def _commit_by_hand(client: RemoteClient, body: bytes, size: int, digest: bytes) -> Message:
    """A client that lies about what it sent: the guest must commit nothing."""
    link = client._link
    channel = link.channel
    await link.run_steps(until(channel.can_open))
    stream_id = channel.open(WriteOpenRequest("a.txt"))
    await link.send(stream_id, WriteChunkData(body))
    await link.send(stream_id, WriteCommit(size, digest), end=True)
    reply = await link.receive(stream_id)
    assert reply is not None
    return reply


async def test_a_commit_with_the_wrong_size_or_digest_commits_nothing(
    unix_guest: RunningGuest,
) -> None:
    right = hashlib.sha256(b"hello").digest()
    async with connect(unix_guest.address) as client:
        for size, digest in ((6, right), (5, hashlib.sha256(b"hello!").digest())):
            reply = await _commit_by_hand(client, b"hello", size, digest)
            assert isinstance(reply, ErrorReply), reply
            assert reply.code is ErrorCode.WRITE_MISMATCH
            assert dict(reply.details)["path"] == "a.txt"
    assert list(unix_guest.workspace.iterdir()) == []


async def test_abort_and_a_large_body(unix_guest: RunningGuest) -> None:
    body = bytes(range(256)) * (3 * 4096 + 17)  # several frames, not a multiple of any
    async with connect(unix_guest.address) as client:
        aborted = await client.open_writer("big.bin")
        await aborted.write(body)
        await aborted.abort()
        assert list(unix_guest.workspace.iterdir()) == []
        writer = await client.open_writer("big.bin")
        for start in range(0, len(body), 100_003):
            await writer.write(body[start : start + 100_003])
        receipt = await writer.commit()
    assert receipt.sha256 == hashlib.sha256(body).hexdigest()
    assert (unix_guest.workspace / "big.bin").read_bytes() == body


def test_a_refused_write_is_reported_with_its_reason(unix_guest: RunningGuest) -> None:
    (unix_guest.workspace / "dir").mkdir()
    (unix_guest.workspace / "file").write_bytes(b"x")
    with open_remote_backends(unix_guest.address) as (vfs, _terminal):
        with pytest.raises(FileSystemError) as caught:
            writer = vfs.open_writer("file/below.txt")
            for _ in range(20):
                writer.write(b"y" * 65536)
            writer.commit()
        assert caught.value.code in (EngineCode.NOT_A_DIRECTORY, EngineCode.IO_ERROR)
        writer = vfs.open_writer("dir/ok.txt")  # the connection is fine afterwards
        writer.write(b"fine")
        assert writer.commit().bytes_written == 4


class _VerifyingWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.expected: str | None = None

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self, *, expected_sha256: str | None = None) -> WriteReceipt:
        self.expected = expected_sha256
        digest = hashlib.sha256(self.data).hexdigest()
        return WriteReceipt(path="p", bytes_written=len(self.data), sha256=digest, created=True)

    def abort(self) -> None:
        pass


def test_a_writer_that_verifies_the_digest_is_not_hashed_twice() -> None:
    writer = _VerifyingWriter()
    body = _Body(writer)
    assert body.verifies and body.digest is None
    body.write_batch([b"ab", b"c"])
    body.size = 3
    digest = hashlib.sha256(b"abc").digest()
    assert body.mismatch(3, b"\0" * 32) is None  # the writer checks the digest itself
    body.commit(3, digest)
    assert writer.expected == digest.hex()


def test_the_guest_passes_the_size_to_a_writer_that_takes_it(workspace: Path) -> None:
    writer = LocalVfs(workspace).open_writer("sized.txt")
    body = _Body(writer)
    assert body.verifies and body.digest is None
    body.write_batch([b"abc"])
    with pytest.raises(WriteMismatchError):
        body.commit(4, hashlib.sha256(b"abc").digest())
    assert list(workspace.iterdir()) == []


class _LyingDigest:
    """Reports the digest of something else than what was sent."""

    def update(self, data: bytes, /) -> None:
        pass

    def digest(self) -> bytes:
        return hashlib.sha256(b"something else").digest()


def test_a_corrupted_body_is_refused_with_write_mismatch(unix_guest: RunningGuest) -> None:
    async def corrupt() -> RemoteOperationError:
        async with connect(unix_guest.address) as client:
            stream = WriteStream(client._link.channel, "bad.txt", _LyingDigest())
            await client._link.run_steps(stream.open())
            await client._link.run_steps(stream.write(b"payload"))
            with pytest.raises(RemoteOperationError) as caught:
                await client._link.run_steps(stream.commit())
            return caught.value

    error = anyio.run(corrupt)
    assert error.code is ErrorCode.WRITE_MISMATCH and error.detail("path") == "bad.txt"
    assert "bad.txt" in error.message
    assert list(unix_guest.workspace.iterdir()) == []


def _staged_bytes(workspace: Path) -> int:
    """Bytes the guest (a thread of this process) has staged for writes in ``workspace``: an
    unnamed ``O_TMPFILE`` shows in ``/proc/self/fd`` as ``workspace/#inode (deleted)``."""
    total = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{name}")
            if target.startswith(f"{workspace}/") and target.endswith(" (deleted)"):
                total += os.stat(f"/proc/self/fd/{name}").st_size
    return total


def test_a_write_file_reaches_the_guest_disk_before_its_close_tag(
    unix_guest: RunningGuest,
) -> None:
    parser = InstructionParser()
    chunk = b"0123456789abcdef" * 65536  # 1 MiB per feed
    with open_remote_backends(unix_guest.address) as (vfs, terminal), Engine(vfs, terminal) as e:
        for instruction in parser.feed(b'<write_file path="s.bin">'):
            assert e.feed(instruction) == []
        for _ in range(3):
            for instruction in parser.feed(chunk):
                assert e.feed(instruction) == []
        staged = "the write's bytes on the guest's disk, in an unnamed file"
        wait_until(lambda: _staged_bytes(unix_guest.workspace) > 0, 10, staged)
        assert list(unix_guest.workspace.iterdir()) == []  # ...and nothing visible yet
        outputs = [o for i in parser.feed(b"</write_file>") for o in e.feed(i)]
        assert [o.ok for o in outputs] == [True]
    assert (unix_guest.workspace / "s.bin").stat().st_size == 3 * len(chunk)
    assert [p.name for p in unix_guest.workspace.iterdir()] == ["s.bin"]


def test_a_turn_cut_off_mid_write_commits_nothing(unix_guest: RunningGuest) -> None:
    parser = InstructionParser()
    with open_remote_backends(unix_guest.address) as (vfs, terminal):
        engine = Engine(vfs, terminal)
        for instruction in parser.feed(b'<write_file path="cut.txt">' + b"partial " * 5000):
            engine.feed(instruction)
        # the connection ends here, with the write open (the host process dies, say)
    # Wait for the guest to finish that session (its write's abort included): a temporary file
    # may appear only after the client has gone, when queued chunks reach the disk.
    guest = unix_guest.guest
    assert guest is not None
    wait_until(lambda: guest.connections_open == 0, 10, "the guest to end that connection")
    assert list(unix_guest.workspace.iterdir()) == []


def test_a_write_waits_for_its_hashing_thread_instead_of_queueing_without_bound() -> None:
    from sa3p_host._remote import _remote_backends as backends

    class GatedDigest:
        def __init__(self) -> None:
            self.gate, self.hashed = threading.Event(), hashlib.sha256()

        def update(self, data: bytes) -> None:
            self.gate.wait(30)
            self.hashed.update(data)

    hash_behind, digest = backends._HashBehind(), GatedDigest()
    hash_behind._digest = digest  # type: ignore[assignment]
    chunk, chunks, fed = b"x" * (1 << 20), 12, []

    def feed() -> None:
        for _ in range(chunks):
            hash_behind.update(chunk)
            fed.append(len(chunk))

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    held = backends._HASH_BACKLOG // len(chunk)  # chunks the hasher may have waiting
    wait_until(lambda: len(fed) >= held, 10, "the writer filling the backlog")
    feeder.join(0.2)
    assert feeder.is_alive() and len(fed) <= held + 1  # held back while the hasher is stuck
    digest.gate.set()
    feeder.join(10)
    assert len(fed) == chunks
    hash_behind.finish()
    assert digest.hashed.digest() == hashlib.sha256(chunk * chunks).digest()
