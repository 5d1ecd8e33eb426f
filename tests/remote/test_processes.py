"""Streamed processes on the guest: pipes and PTY, input, backpressure-paced output, the exit,
reattach with replay by byte offset, the grace period."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_host import RemoteOperationError, connect
from sa3p_host._guest import OutputLog
from sa3p_host._guest._process_table import ProcessTable
from sa3p_protocol import WireErrorCode as ErrorCode
from sa3p_protocol.messages import PtyExit, PtyOutput, SignalReply, SpawnRequest

from ..waiting import wait_until_async
from .helpers import RunningGuest, running_guest, short_socket_path

pytestmark = pytest.mark.anyio


def _table(guest: RunningGuest) -> ProcessTable:
    """The in-process guest's table of streamed processes."""
    assert guest.guest is not None and guest.guest._processes is not None
    return guest.guest._processes


def _finished(guest: RunningGuest, pid: int) -> bool:
    """Whether the guest has seen ``pid`` exit and has read all its output."""
    return _table(guest).get(pid).finished


async def test_pipes_input_output_and_exit(unix_guest: RunningGuest) -> None:
    async with connect(unix_guest.address) as client:
        process = await client.spawn(SpawnRequest(argv=("cat",)))
        await process.write(b"hello ")
        await process.write(b"world")
        await process.close_stdin()
        output, exit_ = await process.read_until_exit()
    assert output == b"hello world"
    assert exit_ is not None and exit_.exit_code == 0 and exit_.total_bytes == 11


async def test_a_pty_is_a_terminal_of_the_requested_size(unix_guest: RunningGuest) -> None:
    async with connect(unix_guest.address) as client:
        request = SpawnRequest(command="test -t 1 && stty size", use_pty=True, rows=30, columns=99)
        process = await client.spawn(request)
        output, exit_ = await process.read_until_exit()
    assert b"30 99" in output
    assert exit_ is not None and exit_.exit_code == 0


async def test_exit_codes_and_signals(unix_guest: RunningGuest) -> None:
    async with connect(unix_guest.address) as client:
        failing = await client.spawn(SpawnRequest(command="exit 7"))
        _, exit_ = await failing.read_until_exit()
        assert exit_ is not None and exit_.exit_code == 7
        sleeper = await client.spawn(SpawnRequest(command="sleep 30"))
        await sleeper.signal(signal.SIGTERM)
        events = []
        while (event := await sleeper.receive()) is not None:
            events.append(event)
    replies = [e for e in events if isinstance(e, SignalReply)]
    assert replies and replies[0].signal == signal.SIGTERM
    exits = [e for e in events if isinstance(e, PtyExit)]
    assert exits and exits[0].exit_code == -signal.SIGTERM


async def test_spawn_failures_are_errors(unix_guest: RunningGuest) -> None:
    async with connect(unix_guest.address) as client:
        with pytest.raises(RemoteOperationError) as caught:
            await client.spawn(SpawnRequest(argv=("/nonexistent/program",)))
        assert caught.value.code is ErrorCode.SPAWN_FAILED
        with pytest.raises(RemoteOperationError) as outside:
            await client.spawn(SpawnRequest(command="true", cwd="../.."))
        assert outside.value.code is ErrorCode.OUTSIDE_WORKSPACE
        with pytest.raises(RemoteOperationError) as unknown:
            await client.attach(2**31 - 5)
        assert unknown.value.code is ErrorCode.UNKNOWN_PROCESS


async def test_reattach_replays_what_was_missed(unix_guest: RunningGuest) -> None:
    script = "printf first; read line; printf second; sleep 0.2; printf third"
    async with connect(unix_guest.address) as client:
        process = await client.spawn(SpawnRequest(command=script))
        event = await process.receive()
        assert isinstance(event, PtyOutput) and event.data == b"first"
        pid, offset = process.pid, process.next_offset
        await process.write(b"go\n")
    # The connection is gone; the process lives on, and ends with nobody to read it.
    await wait_until_async(lambda: _finished(unix_guest, pid), 10, "the process to finish")
    # A new connection picks it up.
    async with connect(unix_guest.address) as client:
        again = await client.attach(pid, from_offset=offset)
        missed, exit_ = await again.read_until_exit()
        assert missed == b"secondthird"
        assert exit_ is not None and exit_.exit_code == 0 and exit_.total_bytes == 16
        whole = await client.attach(pid, from_offset=0)
        everything, _ = await whole.read_until_exit()
        assert everything == b"firstsecondthird"


async def test_a_small_replay_buffer_shows_its_gap_as_an_offset_jump(workspace: Path) -> None:
    with running_guest(f"unix:{short_socket_path()}", workspace, replay_bytes=1000) as guest:
        async with connect(guest.address) as client:
            process = await client.spawn(SpawnRequest(command="sleep 0.3; head -c 5000 /dev/zero"))
            pid = process.pid
            process.detach()
            await wait_until_async(lambda: _finished(guest, pid), 10, "the process to finish")
            again = await client.attach(pid, from_offset=0)
            first = await again.receive()
            assert isinstance(first, PtyOutput)
            assert first.offset == 4000  # only the last 1000 bytes were kept
            rest, exit_ = await again.read_until_exit()
            assert len(first.data) + len(rest) == 1000
            assert exit_ is not None and exit_.total_bytes == 5000


async def test_an_unclaimed_process_is_ended_after_the_grace_period(workspace: Path) -> None:
    with running_guest(f"unix:{short_socket_path()}", workspace, grace=0.3) as guest:
        async with connect(guest.address) as client:
            process = await client.spawn(SpawnRequest(command="sleep 30"))
            pid = process.pid
        forgotten = "the guest to forget the unclaimed process"
        await wait_until_async(lambda: pid not in _table(guest).pids, 10, forgotten)
        async with connect(guest.address) as client:
            with pytest.raises(RemoteOperationError) as caught:
                await client.attach(pid)
            assert caught.value.code is ErrorCode.UNKNOWN_PROCESS


async def test_a_slow_reader_stalls_the_process_not_the_guest(workspace: Path) -> None:
    replay = 256 * 1024
    with running_guest(f"unix:{short_socket_path()}", workspace, replay_bytes=replay) as guest:
        async with connect(guest.address) as client:
            process = await client.spawn(SpawnRequest(command="head -c 100000000 /dev/zero"))
            assert guest.guest is not None
            held_output_bytes = guest.guest.held_output_bytes
            # read nothing while the process writes more than the guest may hold
            full = "the guest's replay log to fill"
            await wait_until_async(lambda: held_output_bytes() >= replay, 10, full)
            held = held_output_bytes()
            # the client's window (4 MiB) + the guest's log: nothing more is buffered
            assert held <= replay
            received = 0
            while received < 8 * 1024 * 1024:
                event = await process.receive()
                assert isinstance(event, PtyOutput)
                received += len(event.data)
            await process.signal(signal.SIGKILL)
            # read to the end: closing while the guest still floods the socket can meet an
            # anyio race on Unix sockets (a cancelled receive's reader fires; InvalidStateError)
            _, exited = await process.read_until_exit()
            assert exited is not None


def test_output_log_keeps_the_tail_by_offset() -> None:
    log = OutputLog(10)
    for piece in (b"abcdef", b"ghijkl", b"mnopqrstuvwxyz"):
        log.append(piece)
    assert (log.start, log.end) == (16, 26)
    assert log.read(0, 100) == (16, b"qrstuvwxyz")
    assert log.read(20, 3) == (20, b"uvw")
    assert log.read(26, 5) == (26, b"")


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 64),
    pieces=st.lists(st.binary(max_size=40), max_size=30),
    offset=st.integers(0, 1500),
    limit=st.integers(0, 100),
)
def test_output_log_reads_match_the_whole_output(
    capacity: int, pieces: list[bytes], offset: int, limit: int
) -> None:
    log = OutputLog(capacity)
    for piece in pieces:
        log.append(piece)
    whole = b"".join(pieces)
    assert log.end == len(whole)
    assert log.held == min(capacity, len(whole))
    start, data = log.read(offset, limit)
    assert start == min(max(offset, log.start), log.end)
    assert data == whole[start : start + limit]


async def test_two_clients_attached_to_one_process_both_get_everything(
    unix_guest: RunningGuest,
) -> None:
    script = "read line; printf 'got %s' \"$line\""
    async with connect(unix_guest.address) as first, connect(unix_guest.address) as second:
        process = await first.spawn(SpawnRequest(command=script))
        watcher = await second.attach(process.pid)
        await process.write(b"hello\n")
        mine, exit_ = await process.read_until_exit()
        theirs, their_exit = await watcher.read_until_exit()
    assert mine == theirs == b"got hello"
    assert exit_ == their_exit
