"""Live output over the remote link: the guest streams a running command's output to a client
that offered ``live_output``; a peer without the feature (either side) still works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from sa3p_engine import Engine, ListFilesOutput, LiveOutput, TerminalOutput
from sa3p_host import connect, open_remote_backends
from sa3p_host._guest import _guest_server
from sa3p_parser import InstructionParser

from .helpers import RunningGuest, running_guest, short_socket_path

STEPS = "printf one; sleep 0.2; printf ' two'; sleep 0.2; printf ' three'"


@pytest.fixture
def older_guest(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGuest]:
    """A guest that offers no feature, as one from before features existed."""
    monkeypatch.setattr(_guest_server, "FEATURES", ())
    with running_guest(f"unix:{short_socket_path()}", workspace) as guest:
        yield guest


def test_a_run_streams_its_output_as_it_prints(unix_guest: RunningGuest) -> None:
    pieces: list[bytes] = []
    with open_remote_backends(unix_guest.address) as (_vfs, terminal):
        result = terminal.run(STEPS, timeout=30, on_output=pieces.append)
    assert b"".join(pieces) == result.head == b"one two three"
    assert len(pieces) >= 2  # printed in steps, so it arrived in steps


def test_a_poll_streams_what_a_detached_command_prints(unix_guest: RunningGuest) -> None:
    pieces: list[bytes] = []
    with open_remote_backends(unix_guest.address) as (_vfs, terminal):
        started = terminal.run("sleep 0.5; echo late", timeout=0.1)
        assert started.exit_code is None
        polled = terminal.poll(started.pid, timeout=30, on_output=pieces.append)
    assert polled.exit_code == 0 and b"".join(pieces) == polled.head == b"late\n"


def test_a_client_that_does_not_ask_gets_no_live_output(unix_guest: RunningGuest) -> None:
    pieces: list[bytes] = []
    with open_remote_backends(unix_guest.address, live_output=False) as (_vfs, terminal):
        result = terminal.run(STEPS, timeout=30, on_output=pieces.append)
    assert pieces == [] and result.head == b"one two three"


def test_an_older_guest_still_runs_commands_and_lists_files(older_guest: RunningGuest) -> None:
    (older_guest.workspace / "a.txt").write_text("a")
    live: list[LiveOutput] = []
    reply = b"<terminal>echo hi</terminal><list_files/>"
    with (
        open_remote_backends(older_guest.address) as (vfs, terminal),
        Engine(vfs, terminal, on_output=live.append) as engine,
    ):
        turn = engine.execute_turn(InstructionParser().feed(reply) + InstructionParser().finish())
    ran, listed = turn.outputs
    assert isinstance(ran, TerminalOutput) and ran.output == "hi\n"
    assert [piece.data for piece in live] == [b""]  # it started; nothing streamed
    # Not asked which files are recent (it would not understand): the listing's own flags,
    # which this stand-in for an older guest does not set.
    assert isinstance(listed, ListFilesOutput) and listed.listing == "a.txt"


def test_the_async_client_streams_too(unix_guest: RunningGuest) -> None:
    async def main() -> tuple[list[bytes], bytes]:
        pieces: list[bytes] = []
        async with connect(unix_guest.address) as client:
            result = await client.run(STEPS, timeout=30, on_output=pieces.append)
        return pieces, result.head

    pieces, head = anyio.run(main)
    assert b"".join(pieces) == head == b"one two three" and len(pieces) >= 2
