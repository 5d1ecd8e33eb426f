"""LocalTerminal: sessions, closed stdin, merged and capped output, detach, signals, close."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil
import pytest

from sa3p_engine import ErrorCode, TerminalError
from sa3p_host import LocalTerminal

from ..waiting import wait_for, wait_until


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _written_line(path: Path) -> str:
    """The line a command writes to ``path``, once it is there whole."""

    def line() -> str | None:
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text()
            if text.endswith("\n"):
                return text
        return None

    return wait_for(line, 10, f"a line in {path.name}")


def _polled_until(terminal: LocalTerminal, pid: int, wanted: bytes, collected: bytes) -> bytes:
    """``collected`` and the output of polling ``pid`` until ``wanted`` is among it."""
    output = bytearray(collected)

    def arrived() -> bool:
        output.extend(terminal.poll(pid, timeout=0.1).head)
        return wanted in output

    wait_until(arrived, 10, f"{wanted!r} in the output")
    return bytes(output)


def test_runs_in_the_workspace_and_nothing_but_files_persist(
    terminal: LocalTerminal, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    first = terminal.run("cd sub && export X=1 && f() { :; } && touch made", timeout=10)
    assert first.exit_code == 0
    second = terminal.run('pwd; echo "X=$X"; type f >/dev/null 2>&1 || echo no-f', timeout=10)
    assert second.head.decode().splitlines() == [str(tmp_path), "X=", "no-f"]
    assert (tmp_path / "sub" / "made").exists()


def test_stdin_is_closed_so_prompts_get_eof(terminal: LocalTerminal) -> None:
    result = terminal.run('read -p "Continue? [y/N] " answer; echo "got:$answer"', timeout=10)
    assert result.exit_code == 0
    assert result.head.endswith(b"got:\n")


def test_stdout_and_stderr_merged_in_order(terminal: LocalTerminal) -> None:
    result = terminal.run("echo 1; echo 2 >&2; echo 3; echo 4 >&2", timeout=10)
    assert result.head == b"1\n2\n3\n4\n"


def test_exit_code_and_death_by_signal(terminal: LocalTerminal) -> None:
    assert terminal.run("exit 7", timeout=10).exit_code == 7
    assert terminal.run("kill -TERM $$", timeout=10).exit_code == -signal.SIGTERM


def test_flood_is_capped_head_and_tail_with_total(terminal: LocalTerminal) -> None:
    result = terminal.run("seq 1 200000", timeout=30)
    expected = b"".join(b"%d\n" % n for n in range(1, 200001))
    assert result.total_bytes == len(expected)
    assert result.head == expected[:512]
    assert result.tail == expected[-512:]
    assert result.omitted_bytes == len(expected) - 1024


def test_endless_flood_costs_bounded_memory_and_is_detached(terminal: LocalTerminal) -> None:
    result = terminal.run("yes", timeout=0.5)
    assert result.running
    assert len(result.head) + len(result.tail) <= 1024
    assert result.total_bytes > 1024
    later = terminal.poll(result.pid, timeout=0.2)
    assert later.running and len(later.head) + len(later.tail) <= 1024
    assert terminal.signal(result.pid, signal.SIGKILL).exited


def test_timeout_detaches_then_poll_reads_later_output_and_reaps(
    terminal: LocalTerminal,
) -> None:
    result = terminal.run("echo start; sleep 0.6; echo done; exit 4", timeout=0.2)
    assert result.running and result.head == b"start\n"
    assert terminal.active_pids() == [result.pid]
    final = terminal.poll(result.pid, timeout=10)
    assert (final.head, final.exit_code) == (b"done\n", 4)
    assert terminal.active_pids() == []
    assert _gone(result.pid)
    again = terminal.poll(result.pid, timeout=0)
    assert (again.head, again.exit_code) == (b"", 4)


def test_background_job_output_after_the_shell_exits(terminal: LocalTerminal) -> None:
    result = terminal.run("(sleep 0.3; echo late) & echo now", timeout=10)
    assert (result.head, result.exit_code) == (b"now\n", 0)
    assert terminal.active_pids() == [result.pid]  # its group still runs the subshell
    assert _polled_until(terminal, result.pid, b"late", b"") == b"late\n"
    assert terminal.poll(result.pid, timeout=10).exit_code == 0
    assert terminal.active_pids() == []


def test_backgrounded_server_is_active_until_its_group_is_empty(
    terminal: LocalTerminal, tmp_path: Path
) -> None:
    result = terminal.run("sleep 60 >/dev/null & echo $! > server.pid; echo up", timeout=10)
    server = int(_written_line(tmp_path / "server.pid"))
    assert (result.head, result.exit_code) == (b"up\n", 0)
    assert terminal.active_pids() == [result.pid]
    polled = terminal.poll(result.pid, timeout=0.1)  # waits for the group, up to the timeout
    assert polled.head == b"" and terminal.active_pids() == [result.pid]
    outcome = terminal.signal(result.pid, signal.SIGTERM)
    assert outcome.exited and outcome.exit_code == 0  # the shell's own exit code
    assert _gone(server) and not psutil.pid_exists(server)  # the orphan was reaped, not left
    assert terminal.active_pids() == []


def test_backgrounded_server_output_is_polled_after_the_shell_exits(
    terminal: LocalTerminal,
) -> None:
    result = terminal.run("(echo ready; sleep 0.2; echo served; sleep 60) & echo up", timeout=10)
    assert result.exit_code == 0 and terminal.active_pids() == [result.pid]
    collected = _polled_until(terminal, result.pid, b"served", result.head)
    assert sorted(collected.splitlines()) == [b"ready", b"served", b"up"]
    assert terminal.signal(result.pid, signal.SIGKILL).exited
    assert terminal.active_pids() == []


def test_signal_zero_probes_the_group_and_an_ended_command_is_not_signalled(
    terminal: LocalTerminal,
) -> None:
    result = terminal.run("sleep 60 >/dev/null 2>&1 &", timeout=10)
    assert result.exit_code == 0
    assert not terminal.signal(result.pid, 0).exited
    assert terminal.signal(result.pid, signal.SIGKILL).exited
    assert terminal.signal(result.pid, 0).exited
    assert terminal.signal(result.pid, signal.SIGTERM).exited  # nothing sent: it already ended
    finished = terminal.run("true", timeout=10)
    assert terminal.signal(finished.pid, 0).exited
    assert terminal.active_pids() == []


def test_group_members_that_left_with_setsid_do_not_keep_a_command_active(
    terminal: LocalTerminal,
) -> None:
    result = terminal.run("setsid sleep 60 >/dev/null 2>&1 & echo $!", timeout=10)
    assert result.exit_code == 0
    # the child is in the group until it calls setsid(); documented: close() still ends it
    wait_until(lambda: terminal.active_pids() == [], 10, "the setsid child to leave the group")
    assert psutil.pid_exists(int(result.head))


def test_signal_goes_to_the_whole_group(terminal: LocalTerminal, tmp_path: Path) -> None:
    result = terminal.run("sleep 30 & echo $! > child.pid; sleep 30", timeout=0.5)
    child = int(_written_line(tmp_path / "child.pid"))
    outcome = terminal.signal(result.pid, signal.SIGTERM)
    assert outcome.exited and outcome.exit_code == -signal.SIGTERM
    wait_until(lambda: _gone(child), 5, "the child to end")


def test_only_own_processes_can_be_signalled(terminal: LocalTerminal) -> None:
    with pytest.raises(TerminalError) as caught:
        terminal.signal(os.getpid(), signal.SIGTERM)
    assert caught.value.code is ErrorCode.UNKNOWN_PROCESS
    with pytest.raises(TerminalError) as caught:
        terminal.poll(1, timeout=0)
    assert caught.value.code is ErrorCode.UNKNOWN_PROCESS
    result = terminal.run("sleep 30", timeout=0.1)
    with pytest.raises(TerminalError) as caught:
        terminal.signal(result.pid, 12345)
    assert caught.value.code is ErrorCode.INVALID_SIGNAL


def test_close_leaves_no_orphans(tmp_path: Path) -> None:
    local = LocalTerminal(tmp_path)
    script = (
        "sleep 60 & echo $! >> pids;"  # a child in the group
        "bash -c 'sleep 60 & echo $! >> pids; wait' &"  # a grandchild in the group
        # a grandchild that starts its own session and whose parent exits (double fork)
        "setsid bash -c 'sleep 60 & echo $! >> pids; echo $$ >> pids; wait' & "
        "sleep 0.5; echo ready; sleep 60"
    )
    result = local.run(script, timeout=1)
    assert result.running
    pids = wait_for(lambda: _pids(tmp_path / "pids", 4), 10, "the four pids written")
    others = local.run("setsid sleep 60 & echo $!", timeout=5)
    pids.append(int(others.head))
    local.close()
    started = [result.pid, *pids]
    # killed at close(), and reaped too; a loaded machine may take a moment to reap
    reaped = "every process started to be killed and reaped"
    wait_until(lambda: not any(psutil.pid_exists(pid) for pid in started), 10, reaped)
    with pytest.raises(TerminalError) as caught:
        local.run("true", timeout=1)
    assert caught.value.code is ErrorCode.CLOSED
    local.close()  # idempotent


def _pids(path: Path, count: int) -> list[int] | None:
    """The ``count`` pids written to ``path``, once they all are (whole lines)."""
    with contextlib.suppress(FileNotFoundError):
        lines = path.read_text().splitlines(keepends=True)
        if len(lines) == count and all(line.endswith("\n") for line in lines):
            return [int(line) for line in lines]
    return None


def test_unstartable_shell_is_a_spawn_failure(tmp_path: Path) -> None:
    local = LocalTerminal(tmp_path, shell=str(tmp_path / "no-such-shell"))
    with pytest.raises(TerminalError) as caught:
        local.run("true", timeout=1)
    assert caught.value.code is ErrorCode.SPAWN_FAILED
    with pytest.raises(TerminalError) as caught:
        LocalTerminal(tmp_path).run("echo \0", timeout=1)
    assert caught.value.code is ErrorCode.SPAWN_FAILED


def test_other_shells_can_be_configured(tmp_path: Path) -> None:
    with LocalTerminal(tmp_path, shell="sh") as local:
        assert local.run("echo $0", timeout=5).head == b"sh\n"


def test_each_command_has_its_own_session_and_group(terminal: LocalTerminal) -> None:
    result = terminal.run("ps -o sid=,pgid= -p $$", timeout=10)
    session, group = (int(field) for field in result.head.split())
    assert session == group == result.pid != os.getsid(0)
