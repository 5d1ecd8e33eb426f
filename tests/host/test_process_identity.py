"""LocalTerminal holds each command's identity until its process group is gone, so a pid number
reused by a stranger is never signalled; ``close`` ends what escaped the group, and nothing else.

Each test runs with both mechanisms (``_process_groups``): a pidfd of the leader with
``PIDFD_SIGNAL_PROCESS_GROUP`` (Linux 6.9+), and the leader kept unreaped until its group is
empty."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sa3p_engine import TerminalProvider
from sa3p_engine.testing import TERMINAL_CONFORMANCE, ConformanceCheck
from sa3p_host import LocalTerminal
from sa3p_host._local import _linux_calls, _process_groups

from ..waiting import wait_until

NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"
ATTEMPTS = 50


@pytest.fixture(params=["pidfd", "zombie leader"])
def mechanism(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "pidfd" and not _linux_calls.pidfd_group_signals():
        pytest.skip("this kernel has no PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9+)")
    _process_groups.use_pidfd_groups(request.param == "pidfd")
    try:
        yield str(request.param)
    finally:
        _process_groups.use_pidfd_groups(None)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _absent(pid: int) -> bool:
    return not psutil.pid_exists(pid)


def _runs(pid: int, name: str) -> bool:
    return psutil.Process(pid).name() == name


def _stranger_with_pid(number: int) -> subprocess.Popen[bytes] | None:
    """A process of the test's own, leading its own group, whose pid is ``number`` (set through
    ``ns_last_pid``); None if other processes of the machine took it each time."""
    for _ in range(ATTEMPTS):
        with open(NS_LAST_PID, "w") as last:
            last.write(str(number - 1))
        stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
        if stranger.pid == number:
            return stranger
        stranger.kill()
        stranger.wait()
    return None


@pytest.fixture
def pid_reuse() -> None:
    if not os.access(NS_LAST_PID, os.W_OK):
        pytest.skip(f"choosing the next pid needs a writable {NS_LAST_PID} (root)")
    try:
        with open(NS_LAST_PID, "w") as last:
            last.write(str(os.getpid()))
    except OSError as error:
        pytest.skip(f"cannot choose the next pid here: {error}")


@pytest.mark.usefixtures("pid_reuse")
def test_an_ended_commands_pid_never_reaches_its_next_owner(
    terminal: LocalTerminal, mechanism: str
) -> None:
    result = terminal.run("true", timeout=10)
    assert result.exit_code == 0
    if mechanism == "zombie leader":
        # the leader is kept, unreaped, so its number cannot be taken...
        assert psutil.Process(result.pid).status() == psutil.STATUS_ZOMBIE
        assert _stranger_with_pid(result.pid) is None
        assert terminal.active_pids() == []  # ...until its group is found empty: reaped now
    stranger = _stranger_with_pid(result.pid)
    if stranger is None:
        pytest.skip(f"pid {result.pid} was taken by others {ATTEMPTS} times: busy machine")
    try:
        assert psutil.Process(stranger.pid).status() != psutil.STATUS_ZOMBIE
        outcome = terminal.signal(result.pid, signal.SIGKILL)
        assert outcome.exited and outcome.exit_code == 0
        assert terminal.signal(result.pid, signal.SIGTERM).exited
        assert terminal.poll(result.pid, timeout=0).exit_code == 0
        assert terminal.active_pids() == []
        terminal.close()
        assert stranger.poll() is None  # never signalled: alive
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.usefixtures("pid_reuse", "mechanism")
def test_a_group_outliving_its_shell_is_signalled_then_never_again(
    terminal: LocalTerminal, tmp_path: Path
) -> None:
    result = terminal.run("sleep 60 >/dev/null & echo $! > job.pid", timeout=10)
    wait_until((tmp_path / "job.pid").exists, 10, "the job wrote its pid")
    job = int((tmp_path / "job.pid").read_text())
    assert result.exit_code == 0 and terminal.active_pids() == [result.pid]
    assert terminal.signal(result.pid, signal.SIGTERM).exited  # reaches the job, via the group
    assert _gone(job)
    stranger = _stranger_with_pid(result.pid)
    if stranger is None:
        pytest.skip(f"pid {result.pid} was taken by others {ATTEMPTS} times: busy machine")
    try:
        assert terminal.signal(result.pid, signal.SIGKILL).exited
        assert terminal.active_pids() == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_the_leader_stays_unreaped_until_its_group_is_empty(tmp_path: Path) -> None:
    _process_groups.use_pidfd_groups(False)
    terminal = LocalTerminal(tmp_path)
    try:
        result = terminal.run("sleep 60 >/dev/null & echo $!", timeout=10)
        job = int(result.head)
        assert psutil.Process(result.pid).status() == psutil.STATUS_ZOMBIE  # holds the number
        assert terminal.active_pids() == [result.pid]
        os.kill(job, signal.SIGKILL)
        wait_until(lambda: terminal.active_pids() == [], 10, "the group ended")
        assert not psutil.pid_exists(result.pid)  # reaped once the group was empty
        assert not psutil.pid_exists(job)  # the orphan too (we are its subreaper)
    finally:
        terminal.close()
        _process_groups.use_pidfd_groups(None)


@pytest.mark.usefixtures("mechanism")
def test_close_ends_every_escapee_and_nothing_else(terminal: LocalTerminal, tmp_path: Path) -> None:
    bystanders = [
        subprocess.Popen(["sleep", "1000"]),
        subprocess.Popen(["sleep", "1000"], start_new_session=True),
        subprocess.Popen(["env", "-i", "sleep", "1000"], start_new_session=True),
    ]
    try:
        escapes = {
            "setsid": "setsid -f sh -c 'echo $$ > setsid.pid; exec sleep 1000'",
            "env -i setsid": "env -i setsid -f sh -c 'echo $$ > env.pid; exec sleep 1000'",
            "double fork": "(setsid sh -c 'echo $$ > double.pid; exec sleep 1000' &) ; true",
        }
        for command in escapes.values():
            assert terminal.run(command, timeout=10).exit_code == 0
        files = [tmp_path / name for name in ("setsid.pid", "env.pid", "double.pid")]
        wait_until(lambda: all(f.exists() and f.read_text() for f in files), 10, "pids written")
        escapees = [int(f.read_text()) for f in files]
        for pid in escapees:
            wait_until(functools.partial(_runs, pid, "sleep"), 10, f"{pid} runs sleep")
            assert os.getsid(pid) == pid  # out of every group and session of ours
        assert "SA3P_TERMINAL" not in psutil.Process(escapees[1]).environ()  # env -i
        assert terminal.active_pids() == []  # none of them counts as a running command
        terminal.close()
        for pid in escapees:
            wait_until(functools.partial(_absent, pid), 10, f"escapee {pid} ended and reaped")
        assert [bystander.poll() for bystander in bystanders] == [None, None, None]
    finally:
        for bystander in bystanders:
            bystander.kill()
            bystander.wait()


@pytest.mark.usefixtures("mechanism")
@pytest.mark.parametrize("check", TERMINAL_CONFORMANCE, ids=str)
def test_conformance_with_each_mechanism(
    check: ConformanceCheck[TerminalProvider], terminal: LocalTerminal
) -> None:
    check.run(terminal)
