"""Streaming writes: atomic commit, size/SHA-256 checks, aborts, errors mid-stream."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import anyio
import pytest

from sa3p_engine import Engine, FileSystemError, WriteReceipt
from sa3p_engine import ErrorCode as EngineCode
from sa3p_host import LocalVfs
from sa3p_host._guest._guest_writes import _Body
from sa3p_host._local._atomic_writes import WriteMismatchError
from sa3p_host._remote import RemoteOperationError, connect, open_remote_backends
from sa3p_parser import InstructionParser
from sa3p_protocol import WireErrorCode

from .helpers import RunningGuest

pytestmark = pytest.mark.anyio


async def test_a_commit_with_the_wrong_size_or_digest_commits_nothing(
    unix_guest: RunningGuest,
) -> None:
    async with connect(unix_guest.address) as client:
        wrong_size = await client.open_writer("a.txt")
        await wrong_size.write(b"hello")
        wrong_size.size += 1  # as if a chunk had been lost on the way
        with pytest.raises(RemoteOperationError) as caught:
            await wrong_size.commit()
        assert caught.value.code is WireErrorCode.WRITE_MISMATCH
        assert caught.value.detail("path") == "a.txt"
        wrong_digest = await client.open_writer("a.txt")
        await wrong_digest.write(b"hello")
        wrong_digest.digest.update(b"!")
        with pytest.raises(RemoteOperationError) as again:
            await wrong_digest.commit()
        assert again.value.code is WireErrorCode.WRITE_MISMATCH
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


def test_a_corrupted_body_is_refused_with_write_mismatch(unix_guest: RunningGuest) -> None:
    async def corrupt() -> RemoteOperationError:
        async with connect(unix_guest.address) as client:
            stream = await client.open_writer("bad.txt")
            stream.digest.update(b"something else")  # the commit's digest will not match
            await stream.send_hashed(b"payload")
            with pytest.raises(RemoteOperationError) as caught:
                await stream.commit()
            return caught.value

    error = anyio.run(corrupt)
    assert error.code is WireErrorCode.WRITE_MISMATCH and error.detail("path") == "bad.txt"
    assert "bad.txt" in error.message
    assert list(unix_guest.workspace.iterdir()) == []


def _temporaries(workspace: Path) -> list[Path]:
    return [p for p in workspace.iterdir() if p.name.endswith(".tmp")]


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
        deadline = time.monotonic() + 10
        while not _temporaries(unix_guest.workspace) and time.monotonic() < deadline:
            time.sleep(0.02)
        temporary = _temporaries(unix_guest.workspace)
        assert temporary and not (unix_guest.workspace / "s.bin").exists()
        outputs = [o for i in parser.feed(b"</write_file>") for o in e.feed(i)]
        assert [o.ok for o in outputs] == [True]
    assert (unix_guest.workspace / "s.bin").stat().st_size == 3 * len(chunk)
    assert _temporaries(unix_guest.workspace) == []


def test_a_turn_cut_off_mid_write_commits_nothing(unix_guest: RunningGuest) -> None:
    parser = InstructionParser()
    with open_remote_backends(unix_guest.address) as (vfs, terminal):
        engine = Engine(vfs, terminal)
        for instruction in parser.feed(b'<write_file path="cut.txt">' + b"partial " * 5000):
            engine.feed(instruction)
        # the connection ends here, with the write open (the host process dies, say)
    # Wait for the guest to finish that session (its write's abort included): a temporary file
    # may appear only after the client has gone, when queued chunks reach the disk.
    assert unix_guest.guest is not None
    deadline = time.monotonic() + 10
    while unix_guest.guest.connections_open and time.monotonic() < deadline:
        time.sleep(0.02)
    assert unix_guest.guest.connections_open == 0
    assert list(unix_guest.workspace.iterdir()) == []
